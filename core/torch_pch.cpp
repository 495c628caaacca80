// Exists so that the shared precompiled header has a target to be built from.
#include "core/torch_pch.h"
