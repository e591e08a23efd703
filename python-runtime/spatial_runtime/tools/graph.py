"""``tools.Graph``: scene graphs of objects, viewpoint relations and route planning.

Objects are nodes with a 3-D position (usually the centroid of the object's points, metres, world frame).
Relations are evaluated from a **viewpoint**: the points are moved into that camera's frame, whose axes
follow OpenCV (docs/conventions.md):

* **x right**: ``left_of`` / ``right_of`` compare camera x;
* **y down**: ``above`` / ``below`` compare camera y, so *above means smaller y*;
* **z forward** (into the scene): ``in_front_of`` means *closer to the camera* (smaller z) and ``behind``
  means farther (larger z).

"Above" measured along the camera's y axis is only "above" in the gravity sense for a level camera; pass
``up`` (a world up vector, e.g. the floor plane's normal from ``tools.Geometry.fit_plane``) to compare
heights along gravity instead. A ``margin`` (metres) makes near-ties count as neither.

Graphs and shortest paths use NetworkX (Hagberg, Schult & Swart, SciPy 2008); routes are found with
Dijkstra's algorithm (:func:`networkx.shortest_path` with edge weights = Euclidean lengths).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.spatial import cKDTree

from spatial_runtime.tools.geometry import world_to_camera


def _nx() -> Any:
    """networkx, imported on first use (0.08 s a kernel need not spend before its first sample; the deferred
    init's second half imports it before a sample's first cell, spatial_runtime.session.init_rest)."""
    import networkx

    return networkx


__all__ = [
    "RELATIONS",
    "Route",
    "SceneGraph",
    "above",
    "behind",
    "below",
    "in_front_of",
    "left_of",
    "plan_route",
    "relations",
    "right_of",
]

RELATIONS = ("left_of", "right_of", "above", "below", "in_front_of", "behind")
"""Viewpoint relation names, in the order :func:`relations` reports them."""


def _point(p: ArrayLike, name: str) -> NDArray[np.float64]:
    a = np.asarray(p, dtype=np.float64).reshape(-1)
    if a.shape != (3,) or not np.isfinite(a).all():
        raise ValueError(f"{name} must be a finite (3,) point in metres, got {np.asarray(p).tolist()}")
    return a


def _offsets(
    a: ArrayLike, b: ArrayLike, cam_to_world: ArrayLike | None, up: ArrayLike | None
) -> tuple[float, float, float]:
    """(right, up, forward) offsets of ``a`` relative to ``b`` as seen from the camera (metres)."""
    pa, pb = _point(a, "a"), _point(b, "b")
    if cam_to_world is None:
        ca, cb = pa, pb
    else:
        ca, cb = world_to_camera(np.stack([pa, pb]), cam_to_world)
    right, down, forward = ca - cb
    if up is None:
        height = -down
    else:
        u = _point(up, "up")
        if np.linalg.norm(u) == 0:
            raise ValueError("up must be a non-zero vector")
        height = float((pa - pb) @ (u / np.linalg.norm(u)))  # `up` is a world vector; a, b are world points
    return float(right), float(height), float(forward)


def relations(
    a: ArrayLike,
    b: ArrayLike,
    cam_to_world: ArrayLike | None = None,
    margin: float = 0.0,
    up: ArrayLike | None = None,
) -> list[str]:
    """The viewpoint relations of point ``a`` relative to point ``b``.

    Args:
        a, b: (3,) world points in metres (camera-frame points when ``cam_to_world`` is None).
        cam_to_world: (4, 4) camera-to-world pose of the viewpoint (e.g. ``frame.pose``).
        margin: offsets up to this many metres count as "neither" for that axis. With the default 0 any
            non-zero offset counts, float round-off included; a few centimetres suit measured data.
        up: optional world up vector; heights are then compared along it instead of the camera's -y.

    Returns:
        The names from :data:`RELATIONS` that hold, e.g. ``["left_of", "in_front_of"]``.
    """
    if margin < 0:
        raise ValueError(f"margin must be >= 0 metres, got {margin}")
    right, height, forward = _offsets(a, b, cam_to_world, up)
    out = []
    if right < -margin:
        out.append("left_of")
    if right > margin:
        out.append("right_of")
    if height > margin:
        out.append("above")
    if height < -margin:
        out.append("below")
    if forward < -margin:
        out.append("in_front_of")
    if forward > margin:
        out.append("behind")
    return out


def left_of(a: ArrayLike, b: ArrayLike, cam_to_world: ArrayLike | None = None, margin: float = 0.0) -> bool:
    """True if ``a`` appears left of ``b`` from the viewpoint (camera x of a < camera x of b - margin)."""
    return "left_of" in relations(a, b, cam_to_world, margin)


def right_of(a: ArrayLike, b: ArrayLike, cam_to_world: ArrayLike | None = None, margin: float = 0.0) -> bool:
    """True if ``a`` appears right of ``b`` from the viewpoint (larger camera x)."""
    return "right_of" in relations(a, b, cam_to_world, margin)


def above(
    a: ArrayLike, b: ArrayLike, cam_to_world: ArrayLike | None = None, margin: float = 0.0, up: ArrayLike | None = None
) -> bool:
    """True if ``a`` is above ``b``: smaller camera y (y points down), or higher along ``up`` if given."""
    return "above" in relations(a, b, cam_to_world, margin, up)


def below(
    a: ArrayLike, b: ArrayLike, cam_to_world: ArrayLike | None = None, margin: float = 0.0, up: ArrayLike | None = None
) -> bool:
    """True if ``a`` is below ``b``: larger camera y, or lower along ``up`` if given."""
    return "below" in relations(a, b, cam_to_world, margin, up)


def in_front_of(a: ArrayLike, b: ArrayLike, cam_to_world: ArrayLike | None = None, margin: float = 0.0) -> bool:
    """True if ``a`` is in front of ``b``, i.e. closer to the camera along its viewing axis (smaller z)."""
    return "in_front_of" in relations(a, b, cam_to_world, margin)


def behind(a: ArrayLike, b: ArrayLike, cam_to_world: ArrayLike | None = None, margin: float = 0.0) -> bool:
    """True if ``a`` is behind ``b``, i.e. farther from the camera along its viewing axis (larger z)."""
    return "behind" in relations(a, b, cam_to_world, margin)


class Route(NamedTuple):
    """A path: ``nodes`` in order (object names, or waypoint indices for :func:`plan_route`), its
    ``length`` in metres, and the (K, 3) ``points`` along it."""

    nodes: list[Any]
    length: float
    points: NDArray[np.float64]


def plan_route(
    waypoints: ArrayLike,
    start: int,
    goal: int,
    max_step: float | None = None,
    edges: Sequence[tuple[int, int]] | None = None,
) -> Route:
    """Shortest route between two waypoints over a graph of traversable steps (Dijkstra, NetworkX).

    Args:
        waypoints: (N, 3) positions in metres (e.g. free floor points, or object centroids).
        start, goal: indices into ``waypoints``.
        max_step: connect every pair of waypoints closer than this (metres; found with
            :meth:`scipy.spatial.cKDTree.query_pairs`).
        edges: explicit traversable pairs ``(i, j)``, used instead of / in addition to ``max_step``.
            At least one of ``max_step`` and ``edges`` is needed.

    Returns:
        :class:`Route` with waypoint indices, length (metres) and points.

    Raises:
        ValueError: for bad indices, no connection rule, or when the goal cannot be reached.
    """
    pts = np.asarray(waypoints, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) == 0 or not np.isfinite(pts).all():
        raise ValueError(f"waypoints must be a finite (N, 3) array in metres, got shape {pts.shape}")
    n = len(pts)
    for name, i in (("start", start), ("goal", goal)):
        if not 0 <= int(i) < n:
            raise ValueError(f"{name} must be a waypoint index in [0, {n}), got {i}")
    if max_step is None and edges is None:
        raise ValueError("plan_route needs max_step (metres) or explicit edges to know which steps are possible")
    nx = _nx()
    G = nx.Graph()
    G.add_nodes_from(range(n))
    pairs: set[tuple[int, int]] = set()
    if max_step is not None:
        if max_step <= 0:
            raise ValueError(f"max_step must be > 0 metres, got {max_step}")
        pairs |= cKDTree(pts).query_pairs(float(max_step))
    for i, j in edges or ():
        if not (0 <= i < n and 0 <= j < n):
            raise ValueError(f"edge ({i}, {j}) refers to a waypoint outside [0, {n})")
        pairs.add((int(i), int(j)))
    G.add_weighted_edges_from((i, j, float(np.linalg.norm(pts[i] - pts[j]))) for i, j in pairs)
    try:
        path = nx.shortest_path(G, int(start), int(goal), weight="weight")
    except nx.NetworkXNoPath:
        raise ValueError(
            f"no route from waypoint {start} to {goal}: they are in different connected parts of the graph "
            f"(try a larger max_step or more edges)"
        ) from None
    length = float(nx.path_weight(G, path, weight="weight"))
    return Route(path, length, pts[path])


class SceneGraph:
    """Objects with 3-D positions, explicit labelled relations and traversable connections.

    Example::

        sg = tools.Graph.SceneGraph()
        sg.add_object("sofa", tools.Geometry.centroid(sofa_points), category="furniture")
        sg.add_object("tv", tv_xyz)
        sg.relations("sofa", "tv", cam_to_world=frame.pose)   # e.g. ["left_of", "in_front_of"]
        sg.nearest("tv")                                       # [("sofa", 2.31)]
        print(sg.as_text())

    Attributes:
        graph: the :class:`networkx.DiGraph` of objects (node attribute ``position``, a (3,) array, plus any
            keyword attributes given to :meth:`add_object`) and explicit relations (edge attribute ``labels``,
            a set of strings).
        paths: the :class:`networkx.Graph` of traversable connections (edge attribute ``weight`` in metres).
    """

    def __init__(self) -> None:
        nx = _nx()
        self.graph = nx.DiGraph()
        self.paths = nx.Graph()

    # -- objects ------------------------------------------------------------------------------------
    def add_object(self, name: str, position: ArrayLike, **attrs: Any) -> None:
        """Add an object at ``position`` ((3,) metres, world frame); extra keyword attributes are stored.

        Raises:
            ValueError: if the name is taken (use :meth:`move_object`) or the position is not a finite (3,).
        """
        if name in self.graph:
            raise ValueError(f"object {name!r} already exists; use move_object() or another name")
        self.graph.add_node(name, position=_point(position, f"position of {name!r}"), **attrs)
        self.paths.add_node(name)

    def move_object(self, name: str, position: ArrayLike) -> None:
        """Set a new position for an existing object (connection lengths are updated)."""
        self._require(name)
        self.graph.nodes[name]["position"] = _point(position, f"position of {name!r}")
        for other in self.paths.neighbors(name):
            self.paths[name][other]["weight"] = self.distance(name, other)

    def _require(self, name: str) -> None:
        if name not in self.graph:
            known = ", ".join(map(repr, self.objects)) or "none"
            raise ValueError(f"unknown object {name!r}; known objects: {known}")

    @property
    def objects(self) -> list[str]:
        """Object names in insertion order."""
        return list(self.graph.nodes)

    def __len__(self) -> int:
        return self.graph.number_of_nodes()

    def __contains__(self, name: object) -> bool:
        return name in self.graph

    def position(self, name: str) -> NDArray[np.float64]:
        """(3,) position of an object (a copy)."""
        self._require(name)
        return self.graph.nodes[name]["position"].copy()

    def positions(self) -> NDArray[np.float64]:
        """(N, 3) positions in the order of :attr:`objects`."""
        return np.array([self.graph.nodes[n]["position"] for n in self.graph.nodes]).reshape(-1, 3)

    def distance(self, a: str, b: str) -> float:
        """Euclidean distance between two objects' positions (metres)."""
        return float(np.linalg.norm(self.position(a) - self.position(b)))

    def nearest(self, target: str | ArrayLike, k: int = 1) -> list[tuple[str, float]]:
        """The ``k`` objects nearest to ``target`` (an object name, which is then excluded, or a (3,) point).

        Returns:
            ``[(name, distance_m), ...]`` nearest first (ties in insertion order).
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if isinstance(target, str):
            self._require(target)
            point, exclude = self.position(target), target
        else:
            point, exclude = _point(target, "target"), None
        cands = [(n, float(np.linalg.norm(self.graph.nodes[n]["position"] - point))) for n in self.objects]
        cands = [c for c in cands if c[0] != exclude]
        return sorted(cands, key=lambda c: c[1])[:k]

    # -- relations ----------------------------------------------------------------------------------
    def relations(
        self,
        a: str,
        b: str,
        cam_to_world: ArrayLike | None = None,
        margin: float = 0.0,
        up: ArrayLike | None = None,
    ) -> list[str]:
        """Viewpoint relations of object ``a`` relative to object ``b`` (see :func:`relations`)."""
        return relations(self.position(a), self.position(b), cam_to_world, margin, up)

    def add_relation(self, a: str, b: str, label: str) -> None:
        """Record an explicit relation ``a --label--> b`` (e.g. ``"on"``, ``"next_to"``, ``"inside"``)."""
        self._require(a)
        self._require(b)
        if self.graph.has_edge(a, b):
            self.graph[a][b]["labels"].add(str(label))
        else:
            self.graph.add_edge(a, b, labels={str(label)})

    def related(self, a: str, label: str | None = None) -> list[tuple[str, str]]:
        """Explicit relations from ``a``: ``[(b, label), ...]``, optionally only those with ``label``."""
        self._require(a)
        out = []
        for b in self.graph.successors(a):
            for lab in sorted(self.graph[a][b]["labels"]):
                if label is None or lab == label:
                    out.append((b, lab))
        return out

    # -- routes -------------------------------------------------------------------------------------
    def connect(self, a: str, b: str, length: float | None = None) -> None:
        """Mark that one can move directly between ``a`` and ``b``; the step costs ``length`` metres
        (default: the straight-line distance)."""
        self._require(a)
        self._require(b)
        w = self.distance(a, b) if length is None else float(length)
        if w < 0:
            raise ValueError(f"length must be >= 0 metres, got {length}")
        self.paths.add_edge(a, b, weight=w)

    def shortest_path(self, a: str, b: str) -> Route:
        """Shortest route from ``a`` to ``b`` over the connections (Dijkstra).

        Raises:
            ValueError: for unknown objects or when ``b`` cannot be reached from ``a``.
        """
        self._require(a)
        self._require(b)
        nx = _nx()
        try:
            path = nx.shortest_path(self.paths, a, b, weight="weight")
        except nx.NetworkXNoPath:
            raise ValueError(f"no route from {a!r} to {b!r}: connect() the objects along the way first") from None
        length = float(nx.path_weight(self.paths, path, weight="weight"))
        return Route(path, length, np.array([self.graph.nodes[n]["position"] for n in path]))

    # -- summary ------------------------------------------------------------------------------------
    def as_text(self, cam_to_world: ArrayLike | None = None, margin: float = 0.0, max_pairs: int = 30) -> str:
        """A short plain-text summary for printing.

        Lists the objects with positions (and extra attributes), the explicit relations and the connections.
        With ``cam_to_world``, also the viewpoint relations of each pair (up to ``max_pairs`` pairs).
        """
        lines = [f"{len(self)} objects (positions in metres):"]
        for n, data in self.graph.nodes(data=True):
            x, y, z = data["position"]
            extra = {k: v for k, v in data.items() if k != "position"}
            extra_text = "".join(f" {k}={v}" for k, v in extra.items())
            lines.append(f"  {n}: ({x:.2f}, {y:.2f}, {z:.2f}){extra_text}")
        edges = [(a, b, lab) for a, b, d in self.graph.edges(data=True) for lab in sorted(d["labels"])]
        if edges:
            lines.append("relations:")
            lines += [f"  {a} {lab} {b}" for a, b, lab in edges]
        if self.paths.number_of_edges():
            lines.append("connections:")
            lines += [f"  {a} <-> {b}: {d['weight']:.2f} m" for a, b, d in self.paths.edges(data=True)]
        if cam_to_world is not None:
            names = self.objects
            pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
            if pairs:
                lines.append("from the viewpoint:")
                for a, b in pairs[:max_pairs]:
                    rel = self.relations(a, b, cam_to_world, margin)
                    lines.append(f"  {a} is {', '.join(rel) if rel else 'level with'} {b}")
                if len(pairs) > max_pairs:
                    lines.append(f"  ... {len(pairs) - max_pairs} more pairs")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"<SceneGraph {len(self)} objects, {self.graph.number_of_edges()} relations, "
            f"{self.paths.number_of_edges()} connections>"
        )
