/* backend_cuda.c - CUDA backend: the OpenCL C kernel programs compiled by
 * NVRTC after the cl2cuda.h prelude (qkv_cuda_prelude), run through the CUDA
 * driver API.  libcuda.so.1 and libnvrtc are both loaded at run time, so the
 * library starts on machines without a driver and then sees no CUDA device.
 * <cuda.h> and <nvrtc.h> provide types, enums and prototypes only.
 *
 * Every call of a qkv context runs on one stream of the device's primary
 * context; host transfers synchronise that stream, kernels and device copies
 * are queued on it, qkv_finish waits for it.  The device timer records a
 * pair of CUDA events on that stream. */
#include "cuda_compile.h"
#include "gpu.h"

#include <cuda.h>
#include <dlfcn.h>
#include <nvrtc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARGS 32        /* kernel arguments per launch */
#define MAX_OPTIONS 40     /* NVRTC options per compile */
#define LOG_LINES 4        /* lines of an NVRTC log quoted in an error */
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- run-time loading ----------------------------------------------------- */

_Static_assert(sizeof(void (*)(void)) == sizeof(void *),
               "dlsym results must fit function pointers");

/* One entry point to resolve: its exported name and the pointer to fill. */
typedef struct symbol {
    const char *name;
    void *slot; /* address of a function pointer */
    bool optional;
} symbol;

/* Fill the slots of `table` from `lib`; false if a required one is missing. */
static bool load_symbols(void *lib, const symbol *table, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        void *p = dlsym(lib, table[i].name);
        if (!p && !table[i].optional)
            return false;
        memcpy(table[i].slot, &p, sizeof p);
    }
    return true;
}

/* The driver API entry points used here, with cuda.h's prototypes. */
static struct {
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
} drv;

/* Exported name of cuda.h's `cu<field>` after its versioned aliases
 * (cuMemAlloc is cuMemAlloc_v2), so names and prototypes agree. */
#define SYM_NAME_(x) #x
#define SYM_NAME(x) SYM_NAME_(x)
#define DRIVER_SYM(field) {SYM_NAME(cu##field), &drv.field, false}

static const symbol driver_symbols[] = {
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
    DRIVER_SYM(ModuleGetFunction), DRIVER_SYM(LaunchKernel),
    DRIVER_SYM(GetErrorString), DRIVER_SYM(EventCreate),
    DRIVER_SYM(EventDestroy),   DRIVER_SYM(EventRecord),
    DRIVER_SYM(EventSynchronize),
    {SYM_NAME(cuEventElapsedTime), &drv.EventElapsedTime, true},
    {"cuEventElapsedTime", &drv.EventElapsedTimePlain, true},
};

static pthread_once_t driver_once = PTHREAD_ONCE_INIT;
static bool driver_ready;

/* dlopen libcuda.so.1, resolve it and cuInit; driver_ready only if all work. */
static void driver_load(void)
{
    void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        return;
    if (!load_symbols(lib, driver_symbols, ARRAY_LEN(driver_symbols)) ||
        drv.Init(0) != CUDA_SUCCESS) {
        dlclose(lib);
        return;
    }
    if (!drv.EventElapsedTime) /* a driver older than the header's version */
        drv.EventElapsedTime = drv.EventElapsedTimePlain;
    driver_ready = true;
}

/* True if the CUDA driver is usable (loaded once per process). */
static bool driver_loaded(void)
{
    return pthread_once(&driver_once, driver_load) == 0 && driver_ready;
}

/* The NVRTC entry points used here, with nvrtc.h's prototypes. */
static struct {
    const char *(*GetErrorString)(nvrtcResult result);
    nvrtcResult (*Version)(int *major, int *minor);
    nvrtcResult (*CreateProgram)(nvrtcProgram *prog, const char *src, const char *name,
                                 int num_headers, const char *const *headers,
                                 const char *const *include_names);
    nvrtcResult (*DestroyProgram)(nvrtcProgram *prog);
    nvrtcResult (*CompileProgram)(nvrtcProgram prog, int num_options,
                                  const char *const *options);
    nvrtcResult (*GetProgramLogSize)(nvrtcProgram prog, size_t *size);
    nvrtcResult (*GetProgramLog)(nvrtcProgram prog, char *log);
    nvrtcResult (*GetPTXSize)(nvrtcProgram prog, size_t *size);
    nvrtcResult (*GetPTX)(nvrtcProgram prog, char *ptx);
    nvrtcResult (*GetCUBINSize)(nvrtcProgram prog, size_t *size); /* NVRTC >= 11.1 */
    nvrtcResult (*GetCUBIN)(nvrtcProgram prog, char *cubin);
} rtc;

#define NVRTC_SYM(field, optional) {"nvrtc" #field, &rtc.field, optional}

static const symbol nvrtc_symbols[] = {
    NVRTC_SYM(GetErrorString, false),    NVRTC_SYM(Version, false),
    NVRTC_SYM(CreateProgram, false),     NVRTC_SYM(DestroyProgram, false),
    NVRTC_SYM(CompileProgram, false),    NVRTC_SYM(GetProgramLogSize, false),
    NVRTC_SYM(GetProgramLog, false),     NVRTC_SYM(GetPTXSize, false),
    NVRTC_SYM(GetPTX, false),            NVRTC_SYM(GetCUBINSize, true),
    NVRTC_SYM(GetCUBIN, true),
};

static pthread_once_t nvrtc_once = PTHREAD_ONCE_INIT;
static bool nvrtc_ready;
static char nvrtc_problem[256]; /* why the last candidate failed to load */

/* dlopen `path` as libnvrtc and resolve it; false (reason noted) if not. */
static bool nvrtc_try(const char *path)
{
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *why = dlerror();
        snprintf(nvrtc_problem, sizeof nvrtc_problem, "%s", why ? why : path);
        return false;
    }
    if (!load_symbols(lib, nvrtc_symbols, ARRAY_LEN(nvrtc_symbols))) {
        snprintf(nvrtc_problem, sizeof nvrtc_problem, "%s lacks NVRTC entry points", path);
        dlclose(lib);
        return false;
    }
    return true;
}

/* $QKV_NVRTC_LIBRARY, then the sonames on the loader's path, then the same
 * names in QKV_CUDA_LIBDIR (the toolkit configure found). */
static void nvrtc_load(void)
{
    static const char *const names[] = {"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"};
    const char *env = getenv("QKV_NVRTC_LIBRARY");
    if (env && *env && nvrtc_try(env)) {
        nvrtc_ready = true;
        return;
    }
    for (size_t i = 0; i < ARRAY_LEN(names); i++)
        if (nvrtc_try(names[i])) {
            nvrtc_ready = true;
            return;
        }
#ifdef QKV_CUDA_LIBDIR
    for (size_t i = 0; i < ARRAY_LEN(names); i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", QKV_CUDA_LIBDIR, names[i]);
        if (nvrtc_try(path)) {
            nvrtc_ready = true;
            return;
        }
    }
#endif
}

/* True if libnvrtc is usable (loaded once per process). */
static bool nvrtc_loaded(void)
{
    return pthread_once(&nvrtc_once, nvrtc_load) == 0 && nvrtc_ready;
}

/* QKV_OK once libnvrtc is loaded, else QKV_ERR_NO_BACKEND saying why. */
static qkv_status nvrtc_require(void)
{
    if (nvrtc_loaded())
        return QKV_OK;
    return qkv_fail(QKV_ERR_NO_BACKEND, "CUDA: libnvrtc cannot be loaded (%s)", nvrtc_problem);
}

/* ---- NVRTC compilation ---------------------------------------------------- */

/* QKV_ERR_BACKEND for a failed NVRTC call `what`. */
static qkv_status nvrtc_failure(nvrtcResult r, const char *what)
{
    return qkv_fail(QKV_ERR_BACKEND, "NVRTC %s failed: %s (%d)", what, rtc.GetErrorString(r),
                    (int)r);
}

/* The prelude, a #line directive naming `file`, then `source`, as one
 * malloc'd text (NULL when out of memory). */
static char *join_source(const char *file, const char *source)
{
    static const char fmt[] = "%s\n#line 1 \"%s\"\n%s";
    const int n = snprintf(NULL, 0, fmt, qkv_cuda_prelude, file, source);
    char *text = n < 0 ? NULL : malloc((size_t)n + 1);
    if (text)
        snprintf(text, (size_t)n + 1, fmt, qkv_cuda_prelude, file, source);
    return text;
}

/* Fixed options, `arch_option`, then the whitespace-separated tokens of
 * `defines`, which is split in place.  The count, or -1 if too many. */
static int build_options(const char *arch_option, char *defines, const char **opts)
{
    int n = 0;
    opts[n++] = "-default-device";
    opts[n++] = "--std=c++14";
    opts[n++] = "-DQKV_CUDA=1";
    opts[n++] = arch_option;
    for (char *p = defines + strspn(defines, " \t\n"); *p; p += strspn(p, " \t\n")) {
        if (n == MAX_OPTIONS)
            return -1;
        opts[n++] = p;
        p += strcspn(p, " \t\n");
        if (*p)
            *p++ = '\0';
    }
    return n;
}

/* QKV_ERR_BACKEND naming the failed compile and quoting its log's head. */
static qkv_status compile_failure(nvrtcProgram prog, nvrtcResult r, const char *file,
                                  const char *defines)
{
    char head[384] = "";
    size_t size = 0;
    if (rtc.GetProgramLogSize(prog, &size) == NVRTC_SUCCESS && size > 1) {
        char *log = malloc(size);
        if (log && rtc.GetProgramLog(prog, log) == NVRTC_SUCCESS) {
            size_t len = 0;
            for (int lines = 0; log[len] && lines < LOG_LINES; len++)
                lines += log[len] == '\n';
            while (len > 0 && log[len - 1] == '\n')
                len--;
            snprintf(head, sizeof head, "%.*s", (int)len, log);
        }
        free(log);
    }
    return qkv_fail(QKV_ERR_BACKEND, "NVRTC compile of %s [%s] failed (%s):\n%s", file, defines,
                    rtc.GetErrorString(r), head);
}

/* The compiled CUBIN (cubin) or NUL-terminated PTX of `prog`, malloc'd. */
static qkv_status fetch_image(nvrtcProgram prog, bool cubin, char **image, size_t *size)
{
    size_t n = 0;
    nvrtcResult r = cubin ? rtc.GetCUBINSize(prog, &n) : rtc.GetPTXSize(prog, &n);
    if (r != NVRTC_SUCCESS)
        return nvrtc_failure(r, cubin ? "nvrtcGetCUBINSize" : "nvrtcGetPTXSize");
    char *buf = malloc(n > 0 ? n : 1);
    if (!buf)
        return qkv_fail(QKV_ERR_NO_MEMORY, "out of host memory for a %zu-byte CUDA image", n);
    r = cubin ? rtc.GetCUBIN(prog, buf) : rtc.GetPTX(prog, buf);
    if (r != NVRTC_SUCCESS) {
        free(buf);
        return nvrtc_failure(r, cubin ? "nvrtcGetCUBIN" : "nvrtcGetPTX");
    }
    *image = buf;
    *size = n;
    return QKV_OK;
}

/* Compile `source` of program `name` after the prelude with `defines` for
 * `arch_option` into a malloc'd CUBIN (cubin) or PTX image. */
static qkv_status nvrtc_compile(const char *name, const char *source, const char *defines,
                                const char *arch_option, bool cubin, char **image,
                                size_t *size)
{
    qkv_status st = nvrtc_require();
    if (st != QKV_OK)
        return st;
    char file[80], split[512];
    const char *opts[MAX_OPTIONS];
    if (!defines)
        defines = "";
    if (snprintf(file, sizeof file, "%s.cl", name) >= (int)sizeof file ||
        snprintf(split, sizeof split, "%s", defines) >= (int)sizeof split)
        return qkv_fail(QKV_ERR_INVALID_ARG, "CUDA: program name or defines too long");
    const int nopts = build_options(arch_option, split, opts);
    if (nopts < 0)
        return qkv_fail(QKV_ERR_INVALID_ARG, "CUDA: too many defines in '%s'", defines);
    char *text = join_source(file, source);
    if (!text)
        return qkv_fail(QKV_ERR_NO_MEMORY, "out of host memory for kernel source");
    nvrtcProgram prog;
    nvrtcResult r = rtc.CreateProgram(&prog, text, file, 0, NULL, NULL);
    if (r != NVRTC_SUCCESS) {
        st = nvrtc_failure(r, "nvrtcCreateProgram");
    } else {
        r = rtc.CompileProgram(prog, nopts, opts);
        st = r != NVRTC_SUCCESS ? compile_failure(prog, r, file, defines)
                                : fetch_image(prog, cubin, image, size);
        r = rtc.DestroyProgram(&prog);
        if (st == QKV_OK && r != NVRTC_SUCCESS) {
            free(*image);
            *image = NULL;
            st = nvrtc_failure(r, "nvrtcDestroyProgram");
        }
    }
    free(text);
    return st;
}

/* See cuda_compile.h: PTX of `source` for virtual architecture `arch`. */
qkv_status qkv_cuda_compile_source_ptx(const char *name, const char *source, const char *defines,
                                       const char *arch, char **ptx, size_t *ptx_size)
{
    if (!name || !source || !arch || !ptx || !ptx_size)
        return qkv_fail(QKV_ERR_INVALID_ARG, "CUDA compile: NULL argument");
    char option[64];
    if (snprintf(option, sizeof option, "--gpu-architecture=%s", arch) >= (int)sizeof option)
        return qkv_fail(QKV_ERR_INVALID_ARG, "CUDA architecture name too long: %s", arch);
    return nvrtc_compile(name, source, defines, option, false, ptx, ptx_size);
}

/* See cuda_compile.h: PTX of an embedded program. */
qkv_status qkv_cuda_compile_ptx(const char *program, const char *defines, const char *arch,
                                char **ptx, size_t *ptx_size)
{
    const char *source = program ? qkv_kernel_source(program) : NULL;
    if (!source)
        return qkv_fail(QKV_ERR_INVALID_ARG, "no embedded kernel program '%s'",
                        program ? program : "(null)");
    return qkv_cuda_compile_source_ptx(program, source, defines, arch, ptx, ptx_size);
}

/* ---- backend state -------------------------------------------------------- */

static const qkv_gpu_compiler cuda_compiler; /* below: the program cache's callbacks */

typedef struct cu_state {
    CUdevice device;
    CUcontext context; /* the device's primary context, retained */
    CUstream stream;   /* carries all work of the qkv context, in order */
    int max_grid[3];   /* blocks per grid dimension */
    qkv_gpu_program_cache programs;
    CUevent timer[2];  /* device timer's begin and end events, when usable */
} cu_state;

/* QKV_OK, or QKV_ERR_BACKEND naming the failed call `what` and the error. */
static qkv_status cu_check(CUresult r, const char *what)
{
    if (r == CUDA_SUCCESS)
        return QKV_OK;
    const char *text = NULL;
    if (drv.GetErrorString(r, &text) != CUDA_SUCCESS || !text)
        text = "unrecognised error";
    return qkv_fail(QKV_ERR_BACKEND, "CUDA %s failed: %s (error %d)", what, text, (int)r);
}

/* Integer attribute `attr` of device `dev`. */
static qkv_status attribute(CUdevice dev, CUdevice_attribute attr, int *value)
{
    return cu_check(drv.DeviceGetAttribute(value, attr, dev), "cuDeviceGetAttribute");
}

/* Make the state's primary context current on the calling thread. */
static qkv_status make_current(const cu_state *s)
{
    return cu_check(drv.CtxSetCurrent(s->context), "cuCtxSetCurrent");
}

/* Devices the driver reports; 0 when libcuda.so.1 or cuInit is missing. */
static int cuda_device_count(void)
{
    int n = 0;
    return driver_loaded() && drv.DeviceGetCount(&n) == CUDA_SUCCESS ? n : 0;
}

/* "NVRTC X.Y", or a note that libnvrtc is missing. */
static void nvrtc_version(char *out, size_t size)
{
    int major = 0, minor = 0;
    if (nvrtc_loaded() && rtc.Version(&major, &minor) == NVRTC_SUCCESS)
        snprintf(out, size, "NVRTC %d.%d", major, minor);
    else
        snprintf(out, size, "NVRTC not loadable");
}

/* Name, architecture, versions and limits of device `index`. */
static qkv_status cuda_describe(int index, qkv_device_info *info)
{
    if (!driver_loaded())
        return qkv_fail(QKV_ERR_NO_DEVICE,
                        "no CUDA driver (libcuda.so.1 not loadable or cuInit failed)");
    CUdevice dev;
    int major = 0, minor = 0, shared = 0, threads = 0, sms = 0, driver = 0;
    size_t mem = 0;
    qkv_status st = cu_check(drv.DeviceGet(&dev, index), "cuDeviceGet");
    if (st == QKV_OK)
        st = cu_check(drv.DeviceGetName(info->name, (int)sizeof info->name, dev),
                      "cuDeviceGetName");
    if (st == QKV_OK)
        st = attribute(dev, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, &major);
    if (st == QKV_OK)
        st = attribute(dev, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, &minor);
    if (st == QKV_OK)
        st = attribute(dev, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK, &shared);
    if (st == QKV_OK)
        st = attribute(dev, CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, &threads);
    if (st == QKV_OK)
        st = attribute(dev, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, &sms);
    if (st == QKV_OK)
        st = cu_check(drv.DeviceTotalMem(&mem, dev), "cuDeviceTotalMem");
    if (st == QKV_OK)
        st = cu_check(drv.DriverGetVersion(&driver), "cuDriverGetVersion");
    if (st != QKV_OK)
        return st;
    char nvrtc[64];
    nvrtc_version(nvrtc, sizeof nvrtc);
    snprintf(info->vendor, sizeof info->vendor, "NVIDIA");
    snprintf(info->version, sizeof info->version, "CUDA driver %d.%d, %s", driver / 1000,
             driver % 1000 / 10, nvrtc);
    snprintf(info->arch, sizeof info->arch, "sm_%d%d", major, minor);
    info->global_mem = mem;
    info->local_mem = (size_t)shared;
    info->max_work_group = (size_t)threads;
    info->compute_units = sms;
    info->mem_align = 256;
    return QKV_OK;
}

/* With the primary context retained: make it current, read the grid limits
 * and create the stream. */
static qkv_status open_stream(cu_state *s)
{
    static const CUdevice_attribute grid[3] = {CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X,
                                               CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y,
                                               CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z};
    qkv_status st = make_current(s);
    for (int d = 0; d < 3 && st == QKV_OK; d++)
        st = attribute(s->device, grid[d], &s->max_grid[d]);
    if (st == QKV_OK)
        st = cu_check(drv.StreamCreate(&s->stream, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
    return st;
}

/* Create the device timer's two events (timing enabled); false, with none
 * kept, if the driver lacks cuEventElapsedTime or creation fails.  The
 * context must be current. */
static bool create_timer_events(cu_state *s)
{
    if (!drv.EventElapsedTime || drv.EventCreate(&s->timer[0], CU_EVENT_DEFAULT) != CUDA_SUCCESS)
        return false;
    if (drv.EventCreate(&s->timer[1], CU_EVENT_DEFAULT) == CUDA_SUCCESS)
        return true;
    (void)drv.EventDestroy(s->timer[0]);
    return false;
}

/* Retain device `index`'s primary context and create the context's stream. */
static qkv_status cuda_open(qkv_context *ctx, int index)
{
    cu_state *s = calloc(1, sizeof *s);
    if (!s)
        return qkv_fail(QKV_ERR_NO_MEMORY, "out of host memory");
    qkv_status st = cu_check(drv.DeviceGet(&s->device, index), "cuDeviceGet");
    if (st == QKV_OK)
        st = cu_check(drv.DevicePrimaryCtxRetain(&s->context, s->device),
                      "cuDevicePrimaryCtxRetain");
    if (st == QKV_OK) {
        st = open_stream(s);
        if (st != QKV_OK) /* st already holds the error to report */
            (void)drv.DevicePrimaryCtxRelease(s->device);
    }
    if (st != QKV_OK) {
        free(s);
        return st;
    }
    ctx->device_timer = create_timer_events(s);
    s->programs.compiler = &cuda_compiler;
    ctx->impl = s;
    return QKV_OK;
}

/* Teardown cannot report errors: every step runs, results are ignored. */
static void cuda_close(qkv_context *ctx)
{
    cu_state *s = ctx->impl;
    (void)drv.CtxSetCurrent(s->context);
    (void)drv.StreamSynchronize(s->stream);
    qkv_gpu_cache_clear(&s->programs);
    if (ctx->device_timer) {
        (void)drv.EventDestroy(s->timer[0]);
        (void)drv.EventDestroy(s->timer[1]);
    }
    (void)drv.StreamDestroy(s->stream);
    (void)drv.DevicePrimaryCtxRelease(s->device);
    free(s);
}

/* cuMemAlloc of the buffer's bytes (256-byte aligned by the driver). */
static qkv_status cuda_alloc(qkv_buffer *buf)
{
    cu_state *s = buf->ctx->impl;
    qkv_status st = make_current(s);
    if (st != QKV_OK)
        return st;
    CUdeviceptr p = 0;
    const CUresult r = drv.MemAlloc(&p, buf->bytes);
    if (r == CUDA_ERROR_OUT_OF_MEMORY)
        return qkv_fail(QKV_ERR_NO_MEMORY, "CUDA cannot allocate %zu bytes", buf->bytes);
    st = cu_check(r, "cuMemAlloc");
    if (st == QKV_OK)
        buf->dptr = (uint64_t)p;
    return st;
}

/* A view is its parent's device pointer plus the offset. */
static qkv_status cuda_view(qkv_buffer *parent, size_t offset, qkv_buffer *view)
{
    view->dptr = parent->dptr + offset;
    return QKV_OK;
}

/* Frees an allocation once the work queued before it has finished; views
 * own nothing.  Cannot report errors. */
static void cuda_release(qkv_buffer *buf)
{
    if (buf->parent)
        return;
    cu_state *s = buf->ctx->impl;
    (void)drv.CtxSetCurrent(s->context);
    (void)drv.StreamSynchronize(s->stream);
    (void)drv.MemFree((CUdeviceptr)buf->dptr);
}

/* Wait for the stream, reporting the first asynchronous error. */
static qkv_status sync_stream(const cu_state *s)
{
    return cu_check(drv.StreamSynchronize(s->stream), "cuStreamSynchronize");
}

/* Host -> device, stream-ordered, returning once the copy is done. */
static qkv_status cuda_write(qkv_buffer *buf, size_t offset, const void *src, size_t bytes)
{
    cu_state *s = buf->ctx->impl;
    qkv_status st = make_current(s);
    if (st == QKV_OK)
        st = cu_check(drv.MemcpyHtoDAsync((CUdeviceptr)(buf->dptr + offset), src, bytes,
                                          s->stream),
                      "cuMemcpyHtoDAsync");
    return st == QKV_OK ? sync_stream(s) : st;
}

/* Device -> host, after the work queued before it. */
static qkv_status cuda_read(const qkv_buffer *buf, size_t offset, void *dst, size_t bytes)
{
    cu_state *s = buf->ctx->impl;
    qkv_status st = make_current(s);
    if (st == QKV_OK)
        st = cu_check(drv.MemcpyDtoHAsync(dst, (CUdeviceptr)(buf->dptr + offset), bytes,
                                          s->stream),
                      "cuMemcpyDtoHAsync");
    return st == QKV_OK ? sync_stream(s) : st;
}

/* Queued on the stream like a kernel; qkv_finish or a read waits for it. */
static qkv_status cuda_copy(qkv_buffer *dst, size_t dst_offset, const qkv_buffer *src,
                            size_t src_offset, size_t bytes)
{
    cu_state *s = dst->ctx->impl;
    qkv_status st = make_current(s);
    if (st == QKV_OK)
        st = cu_check(drv.MemcpyDtoDAsync((CUdeviceptr)(dst->dptr + dst_offset),
                                          (CUdeviceptr)(src->dptr + src_offset), bytes,
                                          s->stream),
                      "cuMemcpyDtoDAsync");
    return st;
}

/* Wait for all work queued on the context's stream. */
static qkv_status cuda_finish(qkv_context *ctx)
{
    cu_state *s = ctx->impl;
    qkv_status st = make_current(s);
    return st == QKV_OK ? sync_stream(s) : st;
}

/* Device timer start: record the begin event on the stream. */
static qkv_status cuda_timer_begin(qkv_context *ctx)
{
    cu_state *s = ctx->impl;
    qkv_status st = make_current(s);
    return st == QKV_OK ? cu_check(drv.EventRecord(s->timer[0], s->stream), "cuEventRecord")
                        : st;
}

/* Device timer stop: record the end event, wait for it and give the time
 * between the two events in microseconds (resolution about 0.5 us). */
static qkv_status cuda_timer_end(qkv_context *ctx, double *us)
{
    cu_state *s = ctx->impl;
    float ms = 0.0f;
    qkv_status st = make_current(s);
    if (st == QKV_OK)
        st = cu_check(drv.EventRecord(s->timer[1], s->stream), "cuEventRecord");
    if (st == QKV_OK)
        st = cu_check(drv.EventSynchronize(s->timer[1]), "cuEventSynchronize");
    if (st == QKV_OK)
        st = cu_check(drv.EventElapsedTime(&ms, s->timer[0], s->timer[1]),
                      "cuEventElapsedTime");
    if (st == QKV_OK)
        *us = (double)ms * 1e3;
    return st;
}

/* ---- kernels -------------------------------------------------------------- */

/* Compile `source` of `program` with `defines` for the context's device
 * architecture ("sm_XY"): a CUBIN when NVRTC can make one, else compute_XY
 * PTX; load it as the CUmodule *built.  The context must be current. */
static qkv_status cuda_build(qkv_context *ctx, const char *program, const char *source,
                             const char *defines, void **built)
{
    qkv_status st = nvrtc_require();
    if (st != QKV_OK)
        return st;
    const char *arch = ctx->info.arch;
    const bool cubin = rtc.GetCUBINSize && rtc.GetCUBIN;
    char option[64];
    snprintf(option, sizeof option, "--gpu-architecture=%s%s", cubin ? "sm_" : "compute_",
             arch + strlen("sm_"));
    char *image;
    size_t size;
    st = nvrtc_compile(program, source, defines, option, cubin, &image, &size);
    if (st != QKV_OK)
        return st;
    CUmodule module;
    st = cu_check(drv.ModuleLoadData(&module, image), "cuModuleLoadData");
    free(image);
    if (st == QKV_OK)
        *built = module;
    return st;
}

/* The CUfunction `kernel` of a loaded module (owned by the module). */
static qkv_status cuda_module_function(qkv_context *ctx, void *built, const char *program,
                                       const char *kernel, void **handle)
{
    (void)ctx;
    CUfunction f;
    const CUresult r = drv.ModuleGetFunction(&f, (CUmodule)built, kernel);
    if (r != CUDA_SUCCESS) {
        char what[160];
        snprintf(what, sizeof what, "lookup of kernel '%s' in '%s'", kernel, program);
        return cu_check(r, what);
    }
    *handle = f;
    return QKV_OK;
}

/* Unload a cached module (the context is current: cuda_close). */
static void cuda_unload(void *built) { (void)drv.ModuleUnload((CUmodule)built); }

static const qkv_gpu_compiler cuda_compiler = {cuda_build, cuda_module_function, NULL,
                                               cuda_unload};

/* Kernel `kernel` of (program, defines) from the context's program cache. */
static qkv_status cuda_get_kernel(qkv_context *ctx, const char *program, const char *kernel,
                                  const char *defines, qkv_gpu_kernel **out)
{
    cu_state *s = ctx->impl;
    const qkv_status st = make_current(s);
    return st == QKV_OK ? qkv_gpu_cache_kernel(&s->programs, ctx, program, kernel, defines, out)
                        : st;
}

/* Grid and block of an NDRange: block = local, grid = global / local in
 * each of ndim dims (the others 1), within the device's limits. */
static qkv_status launch_shape(const qkv_context *ctx, const qkv_gpu_kernel *k, int ndim,
                               const size_t *global, const size_t *local, unsigned *grid,
                               unsigned *block)
{
    const cu_state *s = ctx->impl;
    if (ndim < 1 || ndim > 3 || !global || !local)
        return qkv_fail(QKV_ERR_INVALID_ARG, "CUDA launch of %s: bad NDRange (%d dims)",
                        k->name, ndim);
    size_t threads = 1;
    for (int d = 0; d < ndim; d++) {
        if (local[d] == 0 || global[d] == 0 || global[d] % local[d] != 0)
            return qkv_fail(QKV_ERR_INVALID_ARG,
                            "CUDA launch of %s: global size %zu is not a positive multiple of "
                            "local size %zu in dim %d",
                            k->name, global[d], local[d], d);
        const size_t groups = global[d] / local[d];
        threads = local[d] <= ctx->info.max_work_group ? threads * local[d] : SIZE_MAX;
        if (groups > (size_t)s->max_grid[d] || threads > ctx->info.max_work_group)
            return qkv_fail(QKV_ERR_UNSUPPORTED,
                            "CUDA launch of %s: %zu blocks of %zu threads in dim %d exceed the "
                            "device's limits (%d blocks, %zu threads)",
                            k->name, groups, local[d], d, s->max_grid[d],
                            ctx->info.max_work_group);
        grid[d] = (unsigned)groups;
        block[d] = (unsigned)local[d];
    }
    return QKV_OK;
}

/* Storage of one kernel argument's value for cuLaunchKernel. */
typedef union arg_value {
    CUdeviceptr ptr;
    int32_t i;
    float f;
} arg_value;

/* Store argument `a` in *v; returns the address cuLaunchKernel reads. */
static void *arg_pointer(const qkv_gpu_arg *a, arg_value *v)
{
    switch (a->kind) {
    case QKV_ARG_BUFFER:
        v->ptr = a->buffer ? (CUdeviceptr)a->buffer->dptr : 0;
        return &v->ptr;
    case QKV_ARG_INT:
        v->i = a->i;
        return &v->i;
    default:
        v->f = a->f;
        return &v->f;
    }
}

/* Queue kernel k over the NDRange with its arguments on the stream. */
static qkv_status cuda_launch(qkv_context *ctx, qkv_gpu_kernel *k, int ndim,
                              const size_t *global, const size_t *local, int nargs,
                              const qkv_gpu_arg *args)
{
    cu_state *s = ctx->impl;
    unsigned grid[3] = {1, 1, 1}, block[3] = {1, 1, 1};
    qkv_status st = launch_shape(ctx, k, ndim, global, local, grid, block);
    if (st != QKV_OK)
        return st;
    if (nargs < 0 || nargs > MAX_ARGS || (nargs > 0 && !args))
        return qkv_fail(QKV_ERR_INVALID_ARG, "CUDA launch of %s: %d arguments (at most %d)",
                        k->name, nargs, MAX_ARGS);
    arg_value values[MAX_ARGS];
    void *params[MAX_ARGS];
    for (int i = 0; i < nargs; i++)
        params[i] = arg_pointer(&args[i], &values[i]);
    st = make_current(s);
    if (st != QKV_OK)
        return st;
    const CUresult r = drv.LaunchKernel((CUfunction)k->handle, grid[0], grid[1], grid[2], block[0],
                                        block[1], block[2], 0, s->stream, params, NULL);
    if (r == CUDA_SUCCESS)
        return QKV_OK;
    char what[96];
    snprintf(what, sizeof what, "launch of %s", k->name);
    return cu_check(r, what);
}

const qkv_backend qkv_backend_cuda = {
    QKV_BACKEND_CUDA, cuda_device_count, cuda_describe, cuda_open,   cuda_close,
    cuda_alloc,       cuda_view,         cuda_release,  cuda_write,  cuda_read,
    cuda_copy,        cuda_finish,       cuda_timer_begin, cuda_timer_end,
};

const qkv_gpu_ops qkv_gpu_ops_cuda = {cuda_get_kernel, cuda_launch};
