"""The truncated CLIP encoder on the real ONNX file (skipped where it was never fetched)."""
import numpy as np
import pytest

from forensics.pretrained.clip_encoder import GRID, SIZE, ClipEncoder, make_view


def test_views_map_tokens_back_to_the_image():
    rgb = np.zeros((300, 600, 3), np.uint8)
    view, box = make_view(rgb, "resize224")
    assert view.shape == (SIZE, SIZE, 3)
    assert box.scale == pytest.approx(300 / 224)
    # the centre crop of the resized image covers the middle 300x300 of the original
    x0, y0, x1, y1 = box.token_box(0, 0, 600, 300)
    assert (x0, y0) == (150, 0) and x1 - x0 == pytest.approx(16 * 300 / 224, abs=1)
    crop, cbox = make_view(rgb, "crop224")
    assert crop.shape == (SIZE, SIZE, 3) and cbox.scale == 1.0 and cbox.token_box(GRID - 1, 0, 600, 300)[1] == 38 + 13 * 16
    small, sbox = make_view(np.zeros((100, 120, 3), np.uint8), "crop224")  # enlarged first
    assert small.shape == (SIZE, SIZE, 3) and sbox.scale == pytest.approx(100 / 224)
    with pytest.raises(ValueError):
        make_view(rgb, "five-crops")


def test_cut_graph_stops_at_the_deepest_block_and_scores_each_image_alone(clip_path, photos):
    import onnx

    enc = ClipEncoder([5, 7], path=clip_path, threads=2)
    nodes = [n.name for n in onnx.load(str(enc.graph)).graph.node]
    assert not any("layers.8/" in n or "layers.11/" in n for n in nodes)
    views = np.stack([make_view(im, "resize224")[0] for im in list(photos.values())[:3]])
    together = enc.hidden_states(views)
    alone = enc.hidden_states(views[1:2])
    assert together[7].shape == (3, 1 + GRID * GRID, 768)
    # dynamic INT8 quantisation must not let one image's features depend on its batch-mates
    np.testing.assert_array_equal(together[7][1], alone[7][0])
    assert np.isfinite(together[5]).all() and not np.allclose(together[5][0], together[5][2])


def test_float32_graph_has_no_quantised_products_and_batches_without_coupling(clip_path, photos):
    import onnx

    enc = ClipEncoder([4, 6], path=clip_path, threads=2, precision="float32")
    assert enc.graph.name.endswith(".cut-4-6.float32.onnx")
    ops = {n.op_type for n in onnx.load(str(enc.graph)).graph.node}
    assert "MatMulInteger" not in ops and "DynamicQuantizeLinear" not in ops
    views = np.stack([make_view(im, "resize224")[0] for im in list(photos.values())[:3]])
    together = enc.hidden_states(views)
    alone = enc.hidden_states(views[2:3])
    np.testing.assert_allclose(together[6][2], alone[6][0], atol=1e-4)
    # the same weights as the INT8 graph, but the early blocks' states are no longer quantisation noise
    int8 = ClipEncoder([4, 6], path=clip_path, threads=2).hidden_states(views[2:3])
    assert not np.allclose(int8[4][0], alone[4][0], atol=1e-2)
    assert ClipEncoder([4, 6], path=clip_path, threads=2, precision="float32").graph == enc.graph  # cached


def test_unknown_precision_is_refused(clip_path):
    with pytest.raises(ValueError, match="precision"):
        ClipEncoder([4], path=clip_path, precision="int4")


def test_a_cuda_request_uses_cuda_only_where_onnxruntime_or_torch_has_it(clip_path, photos):
    import onnxruntime as ort
    import torch

    from forensics.pretrained.clip_encoder import execution_providers

    assert execution_providers("cpu") == ["CPUExecutionProvider"]
    has_cuda = "CUDAExecutionProvider" in ort.get_available_providers()
    assert (execution_providers("cuda:0")[0] == "CUDAExecutionProvider") == has_cuda
    enc = ClipEncoder([4], path=clip_path, threads=2, precision="float32", device="cuda")
    # onnxruntime-gpu runs the graph on CUDA; without it the float32 weights run as a torch module on
    # CUDA where torch has it; with neither the CPU package falls back to the CPU
    if has_cuda:
        assert (enc.device, enc.backend) == ("cuda", "onnxruntime")
    elif torch.cuda.is_available():
        assert (enc.device, enc.backend) == ("cuda", "torch")
        cpu = ClipEncoder([4], path=clip_path, threads=2, precision="float32")
        views = np.stack([make_view(im, "resize224")[0] for im in list(photos.values())[:2]])
        a, b = enc.hidden_states(views)[4], cpu.hidden_states(views)[4]
        assert np.abs(a - b).max() <= 1e-3 * np.abs(b).max()
    else:
        assert (enc.device, enc.backend) == ("cpu", "onnxruntime")
