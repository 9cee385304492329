// Emulated counterpart of src/backend/cuda/cuda_check.h: nothing runs on a device to check.
#pragma once
#define OSPREY_CUDA_CHECK(x) (void)(x)
#define OSPREY_CUDA_LAUNCHED() ((void)0)
