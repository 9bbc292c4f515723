/* cuda_driver.h - the CUDA driver API, loaded at run time: libcuda.so.1
 * is dlopen'ed once per process and its entry points resolved into
 * qkv_cuda_drv, so the library starts on machines without a driver (and
 * then sees no CUDA device).  <cuda.h> provides types and prototypes only.
 * Also the symbol-table loader that cuda_nvrtc.c uses for libnvrtc. */
#ifndef QKV_CUDA_DRIVER_H
#define QKV_CUDA_DRIVER_H

#include <cuda.h>
#include <stdbool.h>
#include <stddef.h>

/* One entry point to resolve: its exported name and the pointer to fill. */
typedef struct qkv_dl_symbol {
    const char *name;
    void *slot; /* address of a function pointer */
    bool optional;
} qkv_dl_symbol;

/* Fill the slots of `table` (n entries) from dlopen'ed `lib`; false if a
 * required one is missing. */
bool qkv_dl_load_symbols(void *lib, const qkv_dl_symbol *table, size_t n);

/* The driver API entry points the backend uses, with cuda.h's prototypes. */
typedef struct qkv_cuda_driver {
    CUresult(CUDAAPI *Init)(unsigned int flags);
    CUresult(CUDAAPI *DriverGetVersion)(int *version);
    CUresult(CUDAAPI *DeviceGetCount)(int *count);
    CUresult(CUDAAPI *DeviceGet)(CUdevice *device, int ordinal);
    CUresult(CUDAAPI *DeviceGetName)(char *name, int len, CUdevice dev);
    CUresult(CUDAAPI *DeviceGetAttribute)(int *value, CUdevice_attribute attr, CUdevice dev);
    CUresult(CUDAAPI *DeviceTotalMem)(size_t *bytes, CUdevice dev);
    CUresult(CUDAAPI *DevicePrimaryCtxRetain)(CUcontext *pctx, CUdevice dev);
    CUresult(CUDAAPI *DevicePrimaryCtxRelease)(CUdevice dev);
    CUresult(CUDAAPI *CtxSetCurrent)(CUcontext ctx);
    CUresult(CUDAAPI *StreamCreate)(CUstream *stream, unsigned int flags);
    CUresult(CUDAAPI *StreamDestroy)(CUstream stream);
    CUresult(CUDAAPI *StreamSynchronize)(CUstream stream);
    CUresult(CUDAAPI *MemAlloc)(CUdeviceptr *dptr, size_t bytes);
    CUresult(CUDAAPI *MemFree)(CUdeviceptr dptr);
    CUresult(CUDAAPI *MemcpyHtoDAsync)(CUdeviceptr dst, const void *src, size_t bytes,
                                       CUstream stream);
    CUresult(CUDAAPI *MemcpyDtoHAsync)(void *dst, CUdeviceptr src, size_t bytes,
                                       CUstream stream);
    CUresult(CUDAAPI *MemcpyDtoDAsync)(CUdeviceptr dst, CUdeviceptr src, size_t bytes,
                                       CUstream stream);
    CUresult(CUDAAPI *ModuleLoadData)(CUmodule *module, const void *image);
    CUresult(CUDAAPI *ModuleUnload)(CUmodule module);
    CUresult(CUDAAPI *ModuleGetFunction)(CUfunction *f, CUmodule module, const char *name);
    CUresult(CUDAAPI *FuncSetAttribute)(CUfunction f, CUfunction_attribute attr, int value);
    CUresult(CUDAAPI *LaunchKernel)(CUfunction f, unsigned int gx, unsigned int gy,
                                    unsigned int gz, unsigned int bx, unsigned int by,
                                    unsigned int bz, unsigned int shared_bytes, CUstream stream,
                                    void **params, void **extra);
    CUresult(CUDAAPI *GetErrorString)(CUresult error, const char **text);
    CUresult(CUDAAPI *EventCreate)(CUevent *event, unsigned int flags);
    CUresult(CUDAAPI *EventDestroy)(CUevent event);
    CUresult(CUDAAPI *EventRecord)(CUevent event, CUstream stream);
    CUresult(CUDAAPI *EventSynchronize)(CUevent event);
    /* Optional: cuEventElapsedTime_v2, as cuda.h maps the name (drivers >=
     * 12.8), else the plain name of older drivers (same prototype). */
    CUresult(CUDAAPI *EventElapsedTime)(float *ms, CUevent start, CUevent end);
    CUresult(CUDAAPI *EventElapsedTimePlain)(float *ms, CUevent start, CUevent end);
} qkv_cuda_driver;

/* The driver's entry points; usable once qkv_cuda_driver_loaded(). */
extern qkv_cuda_driver qkv_cuda_drv;

/* True if the CUDA driver is usable: libcuda.so.1 loaded, every required
 * entry point resolved and cuInit done (tried once per process). */
bool qkv_cuda_driver_loaded(void);

#endif
