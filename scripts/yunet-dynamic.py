#!/usr/bin/env python3
"""Makes models/face_detection_yunet_2023mar_dyn.onnx from the original YuNet model (OpenCV Zoo, MIT).

YuNet's graph declares a fixed [1,3,640,640] input, but it is fully convolutional and its Reshape
nodes use -1: this copy declares the input's height and width symbolic and leaves the outputs'
shapes to the runtime, so one file runs at any multiple of 32 (320 for a door terminal).
Needs the `onnx` package. Usage: yunet-dynamic.py ORIGINAL.onnx OUT.onnx
"""
import sys

import onnx

src, dst = sys.argv[1], sys.argv[2]
m = onnx.load(src)
dims = m.graph.input[0].type.tensor_type.shape.dim
dims[2].ClearField("dim_value")
dims[2].dim_param = "height"
dims[3].ClearField("dim_value")
dims[3].dim_param = "width"
for out in m.graph.output:
    for d in out.type.tensor_type.shape.dim[1:]:
        d.ClearField("dim_value")
        d.dim_param = ""
del m.graph.value_info[:]
onnx.checker.check_model(m)
onnx.save(m, dst)
