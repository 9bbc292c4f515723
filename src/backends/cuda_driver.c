/* cuda_driver.c - run-time loading of the CUDA driver (libcuda.so.1) into
 * the function table qkv_cuda_drv; see cuda_driver.h. */
#include "cuda_driver.h"

#include <dlfcn.h>
#include <pthread.h>
#include <string.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

_Static_assert(sizeof(void (*)(void)) == sizeof(void *),
               "dlsym results must fit function pointers");

/* See cuda_driver.h: dlsym each entry of `table` into its slot. */
bool qkv_dl_load_symbols(void *lib, const qkv_dl_symbol *table, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        void *p = dlsym(lib, table[i].name);
        if (!p && !table[i].optional)
            return false;
        memcpy(table[i].slot, &p, sizeof p);
    }
    return true;
}

qkv_cuda_driver qkv_cuda_drv;

/* Exported name of cuda.h's `cu<field>` after its versioned aliases
 * (cuMemAlloc is cuMemAlloc_v2), so names and prototypes agree. */
#define SYM_NAME_(x) #x
#define SYM_NAME(x) SYM_NAME_(x)
#define DRIVER_SYM(field) {SYM_NAME(cu##field), &qkv_cuda_drv.field, false}

static const qkv_dl_symbol driver_symbols[] = {
    DRIVER_SYM(Init),           DRIVER_SYM(DriverGetVersion),
    DRIVER_SYM(DeviceGetCount), DRIVER_SYM(DeviceGet),
    DRIVER_SYM(DeviceGetName),  DRIVER_SYM(DeviceGetAttribute),
    DRIVER_SYM(DeviceTotalMem), DRIVER_SYM(DevicePrimaryCtxRetain),
    DRIVER_SYM(DevicePrimaryCtxRelease), DRIVER_SYM(CtxSetCurrent),
    DRIVER_SYM(StreamCreate),   DRIVER_SYM(StreamDestroy),
    DRIVER_SYM(StreamSynchronize), DRIVER_SYM(MemAlloc),
    DRIVER_SYM(MemFree),        DRIVER_SYM(MemcpyHtoDAsync),
    DRIVER_SYM(MemcpyDtoHAsync), DRIVER_SYM(MemcpyDtoDAsync),
    DRIVER_SYM(ModuleLoadData), DRIVER_SYM(ModuleUnload),
    DRIVER_SYM(ModuleGetFunction), DRIVER_SYM(FuncSetAttribute),
    DRIVER_SYM(LaunchKernel),
    DRIVER_SYM(GetErrorString), DRIVER_SYM(EventCreate),
    DRIVER_SYM(EventDestroy),   DRIVER_SYM(EventRecord),
    DRIVER_SYM(EventSynchronize),
    {SYM_NAME(cuEventElapsedTime), &qkv_cuda_drv.EventElapsedTime, true},
    {"cuEventElapsedTime", &qkv_cuda_drv.EventElapsedTimePlain, true},
};

static pthread_once_t driver_once = PTHREAD_ONCE_INIT;
static bool driver_ready;

/* dlopen libcuda.so.1, resolve it and cuInit; driver_ready only if all work. */
static void driver_load(void)
{
    void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        return;
    if (!qkv_dl_load_symbols(lib, driver_symbols, ARRAY_LEN(driver_symbols)) ||
        qkv_cuda_drv.Init(0) != CUDA_SUCCESS) {
        dlclose(lib);
        return;
    }
    if (!qkv_cuda_drv.EventElapsedTime) /* a driver older than the header's version */
        qkv_cuda_drv.EventElapsedTime = qkv_cuda_drv.EventElapsedTimePlain;
    driver_ready = true;
}

/* See cuda_driver.h: driver_load, once. */
bool qkv_cuda_driver_loaded(void)
{
    return pthread_once(&driver_once, driver_load) == 0 && driver_ready;
}
