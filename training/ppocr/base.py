"""The base model: PP-OCRv6 small's recogniser from the rapidocr wheel, cut to our charset.

The wheel's ONNX reads 18,708 characters plus the CTC blank (class 0) and a space (the last
class, 18,709), as rapidocr's CTCLabelDecode adds them. We keep the blank and the columns of
our characters in its last (linear) layer, so the cut model is exactly the pretrained model
restricted to our charset: its argmax over our classes is the original's argmax over the same
classes, and its softmax is renormalised over them.
"""

from __future__ import annotations

import hashlib
import sys
import types
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

# Class k > 0 is CHARSET[k - 1], class 0 the CTC blank: the convention of our own recogniser's
# charset file (src/flipchart_ocr/models/recogniser.charset.txt), so one decoder serves both.
# The base model has no low double quote, so it is not here.
CHARSET = (
    " "
    + "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZäöüÄÖÜß"
    + "0123456789"
    + "-/:,.?!()&+%\"';=*#@_[]€§°–"
    + "éèêàáâçñóôíúëïÉšč"
)
assert len(set(CHARSET)) == len(CHARSET)

BASE_NAME = "PP-OCRv6_rec_small.onnx"
LAST_WEIGHT, LAST_BIAS = "linear_8.w_0", "linear_8.b_0"


def base_model_path() -> Path:
    """The recogniser inside the installed rapidocr wheel (never downloaded)."""
    import rapidocr

    path = Path(rapidocr.__file__).parent / "models" / BASE_NAME
    if not path.exists():
        raise FileNotFoundError(f"{path} missing: pip install rapidocr")
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def base_charset(model: onnx.ModelProto) -> list[str]:
    """The base model's classes in order: blank, its metadata charset, space."""
    meta = {p.key: p.value for p in model.metadata_props}
    return ["<blank>", *meta["character"].split("\n"), " "]


def kept_classes(model: onnx.ModelProto) -> list[int]:
    """Indices into the base model's classes: blank first, then CHARSET in order."""
    classes = base_charset(model)
    # The space is the last class; a space inside the metadata list would be ambiguous.
    index = {c: i for i, c in enumerate(classes)}
    assert index[" "] == len(classes) - 1
    return [0] + [index[c] for c in CHARSET]


def explicit_pads(model: onnx.ModelProto) -> None:
    """SAME_UPPER with a 2x2 kernel and stride 1 is a pad of one on the bottom and right.

    onnx2torch cannot convert auto_pad; the explicit pads give the same outputs.
    """
    for node in model.graph.node:
        for attribute in list(node.attribute):
            if attribute.name == "auto_pad" and attribute.s == b"SAME_UPPER":
                kernel = next(a.ints for a in node.attribute if a.name == "kernel_shape")
                strides = next((a.ints for a in node.attribute if a.name == "strides"), [1, 1])
                assert list(kernel) == [2, 2] and list(strides) == [1, 1], node.name
                node.attribute.remove(attribute)
                node.attribute.append(onnx.helper.make_attribute("pads", [0, 0, 1, 1]))


def cut_last_layer(model: onnx.ModelProto) -> None:
    """Keep only the blank's and CHARSET's columns of the output layer."""
    keep = kept_classes(model)
    for init in model.graph.initializer:
        if init.name in (LAST_WEIGHT, LAST_BIAS):
            array = numpy_helper.to_array(init)
            cut = np.ascontiguousarray(array[..., keep])
            init.CopyFrom(numpy_helper.from_array(cut, init.name))
    # Shapes recorded for the 18,710 classes no longer hold; onnxruntime infers them again.
    del model.graph.value_info[:]
    model.graph.output[0].type.tensor_type.shape.dim[2].dim_value = len(keep)


def drop_softmax(model: onnx.ModelProto) -> None:
    """Make the output the logits (training wants log-softmax, computed stably)."""
    graph = model.graph
    last = graph.node[-1]
    assert last.op_type == "Softmax", last.op_type
    output = graph.output[0].name
    graph.node.remove(last)
    for node in graph.node:
        node.output[:] = [output if o == last.input[0] else o for o in node.output]


def restricted_onnx(logits: bool = False) -> onnx.ModelProto:
    """The base model cut to CHARSET, with explicit pads; logits instead of softmax if asked."""
    model = onnx.load(str(base_model_path()))
    explicit_pads(model)
    cut_last_layer(model)
    if logits:
        drop_softmax(model)
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, {"character": CHARSET})
    return model


def import_onnx2torch():
    """onnx2torch, without torchvision (only its NMS and RoIAlign converters use it).

    torchvision wheels are built for one torch; a mismatched one fails on import, and our
    graph has neither operator.
    """
    try:
        import torchvision  # noqa: F401
    except (ImportError, RuntimeError):
        for name in [m for m in sys.modules if m.startswith("torchvision")]:
            del sys.modules[name]
        stub = types.ModuleType("torchvision")
        stub.ops = types.ModuleType("torchvision.ops")
        stub.ops.roi_align = None
        sys.modules["torchvision"] = stub
        sys.modules["torchvision.ops"] = stub.ops
    import onnx2torch

    return onnx2torch


def torch_model():
    """The restricted base model as a trainable torch module (outputs logits, N x T x C)."""
    model = import_onnx2torch().convert(restricted_onnx(logits=True), attach_onnx_mapping=True)
    trainable_initializers(model)
    return model


def trainable_initializers(model) -> None:
    """onnx2torch keeps the weights of MatMul, Add (conv biases), layer norms and the output
    layer as buffers: make the floating ones parameters, so that they train too. Scalars
    (epsilons, exponents) stay constants."""
    import torch

    holder = model.initializers
    for name, buffer in list(holder.named_buffers(recurse=False)):
        if buffer.is_floating_point() and buffer.numel() > 1:
            delattr(holder, name)
            holder.register_parameter(name, torch.nn.Parameter(buffer.clone()))
