"""The asyncio client (zmq.asyncio): the same engine as `Client`, driven by the event loop."""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Union, cast

import zmq
import zmq.asyncio

from ._engine import Call
from .client import _Base, _close_all
from .errors import BadRequest, ScriptClusterError
from .request import ClusterStatus, PruneRequest, PruneResult


class AsyncClient(_Base):
    """`Client` for asyncio: `await client.prune(...)`, `await client.prune_many(...)`.

    Any number of coroutines may use one client at once (on one event loop); their requests share
    the connections. A later loop (the next `asyncio.run`) takes the client over, and so does a
    child forked after it was made. Same options as `Client`."""

    def __init__(self, endpoints: Union[str, Sequence[str]], *, context: Optional[zmq.asyncio.Context] = None,
                 **options: Any) -> None:
        super().__init__(endpoints, **options)
        self._options = options
        self._open(context)

    def _open(self, context: Optional[zmq.asyncio.Context]) -> None:
        self._ctx = context or zmq.asyncio.Context.instance()
        self._socks: List[zmq.asyncio.Socket] = []
        self._monitors: List[zmq.asyncio.Socket] = []
        for address in self.endpoints:
            s, m = self._link(address)
            self._socks.append(s)
            self._monitors.append(m)
        self._futures: Dict[str, "asyncio.Future[None]"] = {}
        self._tasks: List["asyncio.Task[None]"] = []
        self._data_tasks: Dict[Any, "asyncio.Task[None]"] = {}
        #: Each coordinator's reader and monitor tasks, by endpoint index.
        self._link_tasks: Dict[int, List["asyncio.Task[None]"]] = {}
        self._wake: "Optional[asyncio.Future[None]]" = None
        self._data_wait = math.inf
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._closed = False

    # -- public ----------------------------------------------------------------------------------

    async def prune(self, features: Any, *, budget: Union[int, float], query: Any = None, embeddings: Any = None,
                    layout: Any = None, shards: Any = None, method: str = "script",
                    options: Optional[Mapping[str, Any]] = None, return_: str = "indices",
                    deadline: Optional[float] = None, request_id: Optional[str] = None,
                    unit_tokens: Optional[int] = None) -> PruneResult:
        """As `Client.prune`."""
        return await self.prune_request(PruneRequest(features, budget, query=query, embeddings=embeddings, layout=layout,
                                                     shards=shards, method=method, options=options, return_=return_,
                                                     deadline=deadline, request_id=request_id,
                                                     unit_tokens=unit_tokens))

    async def prune_request(self, r: Union[PruneRequest, Mapping[str, Any]]) -> PruneResult:
        call = self._call_for(r)
        await self._run(call)
        return cast(PruneResult, self._outcome(call))

    async def prune_many(self, requests: Iterable[Union[PruneRequest, Mapping[str, Any]]], *, max_in_flight: int = 8,
                         return_exceptions: bool = False) -> List[Any]:
        """Results in the order given, with `asyncio.gather` semantics: the first error is raised
        (the other requests go on), or with `return_exceptions=True` takes its request's place.
        At most `max_in_flight` requests are prepared and in flight at once."""
        if isinstance(max_in_flight, bool) or not isinstance(max_in_flight, int) or max_in_flight < 1:
            raise BadRequest(f"max_in_flight must be a positive integer, got {max_in_flight!r}")
        room = asyncio.Semaphore(max_in_flight)

        async def one(r: Union[PruneRequest, Mapping[str, Any]]) -> PruneResult:
            async with room:
                return await self.prune_request(r)

        return list(await asyncio.gather(*[one(r) for r in requests], return_exceptions=return_exceptions))

    async def status(self, endpoint: Optional[str] = None, *, timeout: float = 5.0) -> ClusterStatus:
        """The state of `endpoint` (by default whichever coordinator answers first)."""
        call = self._status_call(endpoint, timeout)
        await self._run(call)
        return cast(ClusterStatus, self._outcome(call))

    async def status_all(self, *, timeout: float = 5.0) -> Dict[str, Union[ClusterStatus, ScriptClusterError]]:
        results = await asyncio.gather(*[self.status(e, timeout=timeout) for e in self.endpoints],
                                       return_exceptions=True)
        out: Dict[str, Union[ClusterStatus, ScriptClusterError]] = {}
        for address, r in zip(self.endpoints, results):
            if isinstance(r, BaseException) and not isinstance(r, ScriptClusterError):
                raise r
            out[address] = r
        return out

    def close(self) -> None:
        """Closes the connections; requests other coroutines have in flight end with `BadRequest`."""
        if self._closed:
            return
        self._closed = True
        for t in self._tasks:
            t.cancel()
        for f in self._futures.values():  # their requests end as the sync client's do
            if not f.done():
                f.set_exception(BadRequest("the client is closed"))
        _close_all(self._socks, self._monitors)
        self._close_data()

    async def aclose(self) -> None:
        tasks = list(self._tasks)
        self.close()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    # -- the loop --------------------------------------------------------------------------------

    async def _run(self, call: Call) -> None:
        if self._closed:
            raise BadRequest("the client is closed")
        self._own_process()
        self._start_tasks()
        future: "asyncio.Future[None]" = asyncio.get_running_loop().create_future()
        self._futures[call.id] = future
        self._engine.add(call, time.monotonic())
        self._step()
        try:
            await future
        finally:
            self._futures.pop(call.id, None)
            if call.state != "done" and not self._closed:
                self._engine.cancel(call.id)
                self._send_cancels()

    def _start_tasks(self) -> None:
        """Starts the readers and the timer on the running loop, once per loop: a loop that ended
        (an earlier `asyncio.run`) took its tasks with it, and requests on the next one waited
        forever, deadlines included, with no timer to end them."""
        loop = asyncio.get_running_loop()
        if self._tasks and self._loop is loop:
            return
        if self._tasks and self._loop is not None and self._loop.is_running():
            raise BadRequest("this AsyncClient is in use on another event loop (another thread's): "
                             "use one AsyncClient per event loop, or a Client, which threads may share")
        self._loop = loop
        self._tasks, self._data_tasks, self._link_tasks, self._wake = [], {}, {}, None
        for i in range(len(self.endpoints)):
            self._watch_link(i)
        self._tasks.append(loop.create_task(self._timer()))
        for key, monitor in self._data_monitors.items():
            self._watch_data(key, monitor)

    def _step(self) -> None:
        """Sends what is due, resolves what finished, and has the timer look again."""
        self._data_wait = self._turn_engine()
        for call in self._engine.take_finished():
            future = self._futures.get(call.id)
            if future is not None and not future.done():
                future.set_result(None)
        if self._wake is not None:
            _release(self._wake)

    def _watch_link(self, i: int) -> None:
        loop = asyncio.get_running_loop()
        self._link_tasks[i] = [loop.create_task(self._reader(i)), loop.create_task(self._monitor(i))]
        self._tasks += self._link_tasks[i]

    def _reopen_link(self, i: int) -> None:
        for task in self._link_tasks.pop(i, []):
            task.cancel()
            self._tasks.remove(task)
        _close_all([self._socks[i]], [self._monitors[i]], linger=0)
        self._socks[i], self._monitors[i] = self._link(self.endpoints[i])
        self._watch_link(i)

    def _watch_data(self, key: Any, monitor: Any) -> None:
        task = asyncio.get_running_loop().create_task(self._data_monitor(key, monitor))
        self._tasks.append(task)
        self._data_tasks[key] = task

    def _unwatch_data(self, key: Any, monitor: Any) -> None:
        task = self._data_tasks.pop(key, None)
        if task is not None:
            task.cancel()
            self._tasks.remove(task)

    async def _data_monitor(self, key: Any, monitor: Any) -> None:
        while True:
            self._data_event(key, await monitor.recv_multipart())
            self._step()

    def _send_nowait(self, sock: Any, frames: List[Any]) -> bool:
        # With NOBLOCK, zmq.asyncio sends at once and returns a finished future: an error
        # (zmq.Again: no connection ready; anything else is retried the same way) is False.
        f = cast("asyncio.Future[Any]", sock.send_multipart(frames, flags=zmq.NOBLOCK, copy=False))
        return not (f.done() and f.exception() is not None)

    async def _reader(self, i: int) -> None:
        sock = self._socks[i]
        while self._socks[i] is sock:  # (a fresh socket has a reader of its own: `_reopen_link`)
            frames = await sock.recv_multipart(copy=False)
            self._engine.received(i, frames, time.monotonic())
            self._step()

    async def _monitor(self, i: int) -> None:
        mon = self._monitors[i]
        while self._monitors[i] is mon:
            msg = await mon.recv_multipart()
            self._link_event(i, msg, time.monotonic())
            self._step()

    async def _timer(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._step()
            self._wake = loop.create_future()
            delay = min(self._engine.wakeup(time.monotonic()), self._data_wait)
            handle = loop.call_later(delay, _release, self._wake)
            try:
                await self._wake
            finally:
                handle.cancel()


def _release(future: "asyncio.Future[None]") -> None:
    if not future.done():
        future.set_result(None)
