"""The perception server's bodies against the generated contracts (shared/contracts/ -> spatial_common.contract).

The server runs in process with its real CPU backends (``rgbd`` on the bundled Kinect room, ``classical`` box
segmentation) and the ``echo`` diagnostics backend; every answer it gives and every request it accepts here must
validate against the JSON Schema that TypeScript's zod schema generated, and every array must match
``ARRAY_SETS``. A second part checks the contract helpers themselves.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import cv2
import msgpack
import numpy as np
import pytest
from perception_helpers import ECHO_BACKENDS, load_npy, npy_bytes, png_bytes
from spatial_common import contract
from spatial_common.contract import ContractError, check_array, validate
from spatial_common.poses import read_tum_poses
from spatial_perception.app import create_app
from spatial_perception.config import ServerConfig

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

ROOM = Path(__file__).resolve().parents[1] / "fixtures" / "rgbd_room"
TOKEN = "contract-token"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    config = ServerConfig(
        token=TOKEN,
        backends=["rgbd", "classical", "echo"],
        artifact_dir=tmp_path_factory.mktemp("artifacts"),
        extra_registry={"echo": tuple(ECHO_BACKENDS["echo"].split(":"))},
    )
    with TestClient(create_app(config), headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        yield c


@pytest.fixture(scope="module")
def room() -> dict:
    meta = json.loads((ROOM / "sample.json").read_text())
    rgb = [cv2.imread(str(ROOM / f))[:, :, ::-1] for f in meta["color"][:3]]
    depth = [
        cv2.imread(str(ROOM / f), cv2.IMREAD_UNCHANGED).astype(np.float32) / meta["depth_scale"]
        for f in meta["depth"][:3]
    ]
    i = meta["intrinsics"]
    K = np.array([[i["fx"], 0, i["cx"]], [0, i["fy"], i["cy"]], [0, 0, 1]])
    return {"rgb": rgb, "depth": np.stack(depth), "K": K, "poses": read_tum_poses(ROOM / "pose.txt")[:3]}


def _post(client: TestClient, route: str, body: dict) -> tuple[int, dict]:
    r = client.post(
        route, content=msgpack.packb(body, use_bin_type=True), headers={"Content-Type": "application/msgpack"}
    )
    return r.status_code, (msgpack.unpackb(r.content, raw=False) if r.status_code == 200 else r.json())


def _check_answer(client: TestClient, reply: dict, kind: str) -> dict:
    """The compute answer, the manifest route and every array agree with the contracts; returns the manifest."""
    validate("ComputeResponse", reply)
    record = reply["artifact"]
    assert record["kind"] == kind
    sizes: dict[str, int] = {}
    for name, data in reply["arrays"].items():
        arr = load_npy(data)
        assert check_array(kind, name, arr.shape, str(arr.dtype), sizes) is None
        assert list(arr.shape) == record["shapes"][name]
    assert set(reply["arrays"]) == set(contract.ARRAY_SETS[kind])
    manifest = client.get(f"/v1/artifacts/{record['id']}").json()
    validate("ArtifactManifest", manifest)
    assert {k: manifest[k] for k in record} == record and manifest["info"] == reply["info"]
    return manifest


def test_reconstruct_answer_and_manifest_follow_the_contract(client: TestClient, room: dict):
    body = {
        "backend": "rgbd",
        "frames": [png_bytes(im) for im in room["rgb"]],
        "frame_indices": [0, 1, 2],
        "depth": npy_bytes(room["depth"]),
        "intrinsics": npy_bytes(room["K"]),
        "poses": npy_bytes(room["poses"]),
        "params": {"align_gravity": True},
    }
    validate("ReconstructRequest", body)
    status, reply = _post(client, "/v1/reconstruct", body)
    assert status == 200, reply
    manifest = _check_answer(client, reply, "reconstruction")
    assert manifest["frame_indices"] == [0, 1, 2]


def test_mask_answer_carries_labels_scores_and_absolute_frame_indices(client: TestClient, room: dict):
    body = {
        "backend": "classical",
        "image": png_bytes(room["rgb"][2]),
        "frame_index": 2,
        "prompt": {"type": "box", "box": [200, 150, 420, 380]},
    }
    validate("SegmentImageRequest", body)
    status, reply = _post(client, "/v1/segment/image", body)
    assert status == 200, reply
    manifest = _check_answer(client, reply, "masks")
    k = manifest["arrays"]["masks"]["shape"][1]
    assert manifest["frame_indices"] == [2] and len(manifest["labels"]) == k == len(reply["info"]["labels"])


def test_health_backends_and_errors_follow_the_contract(client: TestClient):
    health = client.get("/health").json()
    validate("Health", health)
    for b in client.get("/v1/backends").json():
        validate("BackendInfo", b)
    status, err = _post(client, "/v1/reconstruct", {"backend": "rgbd", "frames": []})
    assert status == 400
    validate("ErrorBody", err)
    assert err["code"] in contract.ERROR_CODES


def test_request_fields_of_the_server_are_the_contract_routes(client: TestClient):
    """An unknown field is refused with the contract's field list; a missing required one is named."""
    for route, spec in contract.ROUTES.items():
        status, err = _post(client, spec["path"], {"backend": "echo", "bogus": 1})
        assert status == 400 and all(f in err["error"] for f in spec["fields"]), (route, err)
        status, err = _post(client, spec["path"], {"backend": "echo"})
        assert status == 400 and repr(spec["required"][1]) in err["error"], (route, err)


# --------------------------------------------------------------------------------------------------
# the helpers


def test_validate_names_the_contract_and_the_field():
    with pytest.raises(ContractError, match=r"^ImageMeta: data\.index must be integer"):
        validate("ImageMeta", {"label": None, "index": True, "width": 5, "height": 4, "source": "show"})
    with pytest.raises(KeyError, match="no contract called 'Nope'"):
        validate("Nope", {})


def test_check_array_binds_letter_axes_across_arrays():
    sizes: dict[str, int] = {}
    assert check_array("reconstruction", "depth", (2, 4, 5), "float32", sizes) is None
    assert sizes == {"N": 2, "H": 4, "W": 5}
    assert "with N = 2" in check_array("reconstruction", "points", (3, 4, 5, 3), "float32", sizes)
    assert "expected (N, 4, 4)" in check_array("reconstruction", "extrinsics", (2, 3, 4), "float64", sizes)
    assert "dtype float64, expected float32" in check_array("masks", "scores", (1, 2), "float64", {})
    assert contract.returnable("segment_video") == {"masks", "scores", "frame_indices"}


# --------------------------------------------------------------------------------------------------
# the kernel's display payloads


def test_kernel_display_payloads_follow_the_contract(monkeypatch: pytest.MonkeyPatch):
    from spatial_runtime import display
    from spatial_runtime.tools._common import publish_artifact

    bundles: list[dict] = []
    monkeypatch.setattr(display, "_publish", bundles.append)
    display.show(np.zeros((4, 5, 3), np.uint8), label="x")
    display.ReturnAnswer(2.5)
    publish_artifact(
        tool="SAM3",
        kind="masks",
        artifact_id="0" * 32,
        url=None,
        summary="2 masks",
        frame_indices=[40],
        shapes={"masks": [1, 2, 4, 5]},
        labels=["bed", "bed"],
    )
    image, answer, artifact = bundles
    validate("ImageMeta", image[contract.MIME_IMAGE])
    validate("AnswerPayload", answer[contract.MIME_ANSWER])
    assert validate("PublishedArtifact", artifact[contract.MIME_ARTIFACT])["labels"] == ["bed", "bed"]
    with pytest.raises(ContractError, match="PublishedArtifact"):
        publish_artifact(tool="SAM3", kind="cloud", artifact_id="x", url=None, summary="", frame_indices=[], shapes={})
