"""What can be checked of the deployment files without a container engine or a cluster.

docker-compose.yml against the compose specification's schema (check-jsonschema), the
Kubernetes manifests (each kustomization rendered here) against Kubernetes' schemas
(kubernetes-validate), Cluster/Dockerfile with hadolint, the shell scripts with shellcheck, and the
files against each other and
against the executable: every SCRIPT_CLUSTER_* variable they set is an option of its command,
probe ports are the metrics ports, worker threads follow the CPU limit, and the image's last
stage installs every library the executable loads.
"""

import copy
import os
import re
import shutil
import subprocess

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
K8S = os.path.join(ROOT, "Cluster", "k8s")
TOOLS = ("check-jsonschema", "kubernetes-validate", "hadolint", "shellcheck")


def tool(name):
    path = shutil.which(name)
    assert path, f"{name} is not installed: run bash Scripts/install-deps.sh"
    return path


def run(args):
    r = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, f"{' '.join(args)}\n{r.stdout}\n{r.stderr}"
    return r.stdout


def binary():
    for config in ("debug", "release"):
        p = os.path.join(ROOT, ".build", config, "script-cluster")
        if os.path.exists(p):
            return p
    pytest.fail("script-cluster is not built (swift build)")


# --- kustomize, as far as these files use it: resources and inline JSON patches ---------------

def load_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def pointer(path):
    return [p.replace("~1", "/").replace("~0", "~") for p in path.lstrip("/").split("/")]


def apply_patch(doc, ops):
    for op in ops:
        *parents, last = pointer(op["path"])
        node = doc
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        if op["op"] == "add":
            if isinstance(node, list):
                node.insert(len(node) if last == "-" else int(last), op["value"])
            else:
                node[last] = op["value"]
        elif op["op"] == "replace":
            node[int(last) if isinstance(node, list) else last] = op["value"]
        elif op["op"] == "remove":
            del node[int(last) if isinstance(node, list) else last]
        else:
            raise AssertionError(f"patch op {op['op']} is not supported here")


def render(directory):
    """The resources a kustomization directory yields (resources, patches, image tags)."""
    with open(os.path.join(directory, "kustomization.yaml")) as f:
        k = yaml.safe_load(f)
    docs = []
    for r in k.get("resources", []):
        path = os.path.normpath(os.path.join(directory, r))
        docs += render(path) if os.path.isdir(path) else load_docs(path)
    for p in k.get("patches", []):
        t = p["target"]
        hits = [d for d in docs if d["kind"] == t["kind"] and d["metadata"]["name"] == t["name"]]
        assert hits, f"patch target {t} matches no resource in {directory}"
        for d in hits:
            apply_patch(d, yaml.safe_load(p["patch"]))
    for image in k.get("images", []):
        for d in docs:
            for c in containers(d):
                name, _, _ = c["image"].partition(":")
                if name == image["name"]:
                    c["image"] = image.get("newName", name) + ":" + image.get("newTag", "latest")
    return copy.deepcopy(docs)


def containers(doc):
    return doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])


def kustomizations():
    return [os.path.dirname(os.path.join(dp, f)) for dp, _, fs in os.walk(K8S) for f in fs if f == "kustomization.yaml"]


def env_of(container):
    return {e["name"]: e for e in container.get("env", [])}


# --- the checks ---------------------------------------------------------------------------------

def test_compose_file_matches_the_compose_spec():
    run([tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", "docker-compose.yml"])


def test_dockerfile_passes_hadolint():
    run([tool("hadolint"), "Cluster/Dockerfile"])


def test_shell_scripts_pass_shellcheck(tmp_path):
    """Every script, and the run.sh that pack-bench.sh writes for a many-core machine."""
    scripts = sorted(os.path.join("Scripts", f) for f in os.listdir(os.path.join(ROOT, "Scripts")) if f.endswith(".sh"))
    assert "Scripts/test.sh" in scripts
    with open(os.path.join(ROOT, "Scripts", "pack-bench.sh")) as f:
        packed = re.search(r"<<'RUN'\n(.*?)\nRUN\n", f.read(), re.S)
    assert packed, "pack-bench.sh writes run.sh from a here-document RUN"
    (tmp_path / "run.sh").write_text(packed.group(1) + "\n")
    run([tool("shellcheck"), *scripts, ".ci/run", str(tmp_path / "run.sh")])


@pytest.mark.parametrize("directory", kustomizations(), ids=lambda d: os.path.relpath(d, ROOT))
def test_kubernetes_manifests_match_their_schemas(directory, tmp_path):
    out = tmp_path / "rendered.yaml"
    out.write_text(yaml.safe_dump_all(render(directory)))
    run([tool("kubernetes-validate"), "--strict", "--quiet", str(out)])


def test_optional_manifests_match_their_schemas():
    files = sorted(os.path.join(K8S, "optional", f) for f in os.listdir(os.path.join(K8S, "optional")))
    run([tool("kubernetes-validate"), "--strict", "--quiet"] + files)


def variables():
    """Every SCRIPT_CLUSTER_* variable the deployment files set, with where."""
    found = {}
    with open(os.path.join(ROOT, "docker-compose.yml")) as f:
        compose = yaml.safe_load(f)
    for name, svc in compose["services"].items():
        for v in (svc.get("environment") or {}):
            found.setdefault(v, f"docker-compose.yml {name}")
    for d in kustomizations():
        for doc in render(d):
            for c in containers(doc):
                for v in env_of(c):
                    found.setdefault(v, f"{os.path.relpath(d, ROOT)} {doc['metadata']['name']}")
    return {v: w for v, w in found.items() if v.startswith("SCRIPT_CLUSTER_")}


def test_every_variable_sets_an_option_of_its_command():
    exe = binary()
    helps = {}
    unknown = []
    for v, where in sorted(variables().items()):
        command = v[len("SCRIPT_CLUSTER_"):].split("_")[0].lower()
        if command not in helps:
            helps[command] = subprocess.run([exe, command, "--help"], capture_output=True, text=True).stdout
        if not re.search(rf"^\s+{v}\s+--", helps[command], re.M):
            unknown.append(f"{v} ({where})")
    assert not unknown, "set in the deployment files but not an option: " + ", ".join(unknown)


def test_probes_and_scrapes_use_the_metrics_ports():
    for doc in render(K8S):
        for c in containers(doc):
            env = env_of(c)
            port = next((e["value"] for n, e in env.items() if n.endswith("_METRICS_PORT")), None)
            assert port, f"{doc['metadata']['name']} serves no metrics port"
            named = {p["name"]: str(p["containerPort"]) for p in c["ports"]}
            assert named["metrics"] == port
            for probe in ("livenessProbe", "readinessProbe"):
                assert c[probe]["httpGet"]["port"] == "metrics"
            assert c["livenessProbe"]["httpGet"]["path"] == "/livez"
            assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
            assert doc["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == port
    with open(os.path.join(ROOT, "docker-compose.yml")) as f:
        compose = yaml.safe_load(f)
    with open(os.path.join(ROOT, "Cluster", "prometheus.yml")) as f:
        prometheus = yaml.safe_load(f)
    jobs = {j["job_name"]: j for j in prometheus["scrape_configs"]}
    coordinator_port = compose["services"]["coordinator"]["environment"]["SCRIPT_CLUSTER_COORDINATOR_METRICS_PORT"]
    worker_port = compose["services"]["worker"]["environment"]["SCRIPT_CLUSTER_WORKER_METRICS_PORT"]
    assert jobs["script-cluster-coordinator"]["static_configs"][0]["targets"] == [f"coordinator:{coordinator_port}"]
    assert str(jobs["script-cluster-worker"]["dns_sd_configs"][0]["port"]) == worker_port
    assert f"127.0.0.1:{worker_port}/readyz" in " ".join(compose["services"]["worker"]["healthcheck"]["test"])


def test_worker_threads_follow_the_cpu_limit_and_requests_equal_limits():
    workers = [c for doc in render(K8S) if doc["metadata"]["name"] == "script-worker" for c in containers(doc)]
    assert workers
    for c in workers:
        ref = env_of(c)["SCRIPT_CLUSTER_WORKER_THREADS"]["valueFrom"]["resourceFieldRef"]
        assert (ref["resource"], ref["divisor"], ref["containerName"]) == ("limits.cpu", "1", c["name"])
        assert env_of(c)["OPENBLAS_NUM_THREADS"]["value"] == "1"
        assert c["resources"]["requests"] == c["resources"]["limits"]


def test_compose_services_build_wait_for_health_and_have_limits():
    with open(os.path.join(ROOT, "docker-compose.yml")) as f:
        compose = yaml.safe_load(f)
    services = compose["services"]
    for name in ("coordinator", "worker"):
        s = services[name]
        assert s["build"]["dockerfile"] == "Cluster/Dockerfile"
        assert s["healthcheck"]["test"][:3] == ["CMD", "script-cluster", "status"]
        limits = s["deploy"]["resources"]["limits"]
        assert limits["cpus"] and limits["memory"]
    assert services["worker"]["depends_on"]["coordinator"]["condition"] == "service_healthy"
    assert services["worker"]["environment"]["SCRIPT_CLUSTER_WORKER_THREADS"] == services["worker"]["deploy"]["resources"]["limits"]["cpus"]
    assert services["prometheus"]["profiles"] == ["monitoring"]


def installed(package):
    """Package's Priority and the names its Depends and Pre-Depends list, where installed."""
    r = subprocess.run(["dpkg-query", "-W", "-f", "${Status}\t${Priority}\t${Pre-Depends}, ${Depends}", package],
                       capture_output=True, text=True)
    if r.returncode != 0 or not r.stdout.startswith("install ok installed"):
        return None
    _, priority, depends = r.stdout.split("\t")
    names = [re.split(r"[ :(]", alt.strip())[0] for d in depends.split(",") for alt in d.split("|") if alt.strip()]
    return priority, names


def owner(path):
    """The package that installed `path` (as named, resolved, or either side of /usr's merge)."""
    real = os.path.realpath(path)
    for p in dict.fromkeys([path, real, real.removeprefix("/usr"), "/usr" + path]):
        r = subprocess.run(["dpkg", "-S", p], capture_output=True, text=True)
        if r.returncode == 0:
            return r.stdout.split(":")[0]
    return None


def test_the_image_installs_every_library_the_executable_loads():
    """The runtime stage (debian:bookworm-slim and what it installs) provides each system library
    `ldd` lists for the executable, the Swift runtime's aside (the image links it statically).
    It missed libcurl (through Foundation's networking) until the metrics port stopped using it."""
    text = open(os.path.join(ROOT, "Cluster", "Dockerfile")).read()
    last = text[text.rindex("\nFROM "):]
    listed = re.search(r"apt-get install -y -qq --no-install-recommends ([^\\&\n]+)", last).group(1).split()
    provided, queue = set(), list(listed)
    while queue:
        package = queue.pop()
        if package in provided:
            continue
        info = installed(package)
        if info is None:
            assert package not in listed, f"{package}, which the image installs, is not installed here: run bash Scripts/install-deps.sh"
            continue  # an alternative not taken here
        provided.add(package)
        queue += info[1]
    every = subprocess.run(["dpkg-query", "-W", "-f", "${Package}\t${Priority}\n"], capture_output=True, text=True, check=True)
    base = {line.split("\t")[0] for line in every.stdout.splitlines() if line.endswith("\trequired")}
    toolchain = os.path.dirname(os.path.dirname(os.path.realpath(shutil.which("swift"))))
    missing = []
    for line in run(["ldd", binary()]).splitlines():
        m = re.match(r"\s*(\S+) => (/\S+)", line)
        if not m or os.path.realpath(m.group(2)).startswith(toolchain):
            continue
        package = owner(m.group(2))
        assert package, f"{m.group(2)} belongs to no package"
        if package not in provided | base:
            missing.append(f"{m.group(1)} ({package})")
    assert not missing, f"the image's last stage installs none of: {', '.join(missing)}"

