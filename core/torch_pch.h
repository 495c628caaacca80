// The precompiled header shared by every target that uses LibTorch (see lrec_use_torch_pch).
#pragma once
#include <torch/torch.h>
