print("script-cluster")
