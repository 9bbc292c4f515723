/* cuda_nvrtc.c - NVRTC, loaded at run time (libnvrtc, found as
 * cuda_compile.h says), compiling the OpenCL C kernel programs to PTX or
 * CUBIN after the cl2cuda.h prelude (qkv_cuda_prelude), and the native CUDA
 * programs (kernels/cuda/NAME.cu) as they are, with the toolkit's include
 * folder on the include path.  Needs no CUDA driver or device.  <nvrtc.h>
 * provides types and prototypes only. */
#define _GNU_SOURCE /* dladdr */
#include "cuda_compile.h"
#include "cuda_driver.h"
#include "gpu.h"

#include <dlfcn.h>
#include <nvrtc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_OPTIONS 40 /* NVRTC options per compile */
#define LOG_LINES 4    /* lines of an NVRTC log quoted in an error */
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

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

static const qkv_dl_symbol nvrtc_symbols[] = {
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
    if (!qkv_dl_load_symbols(lib, nvrtc_symbols, ARRAY_LEN(nvrtc_symbols))) {
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

/* ---- the toolkit's include folder (native programs) ----------------------- */

static pthread_once_t include_once = PTHREAD_ONCE_INIT;
static char include_dir[512];      /* "" until found */
static char include_tried[1024];   /* the folders looked at, for the error */

/* Take `dir` as the include folder if it holds cuda_fp16.h; note it as
 * tried otherwise.  False if dir is NULL or empty. */
static bool include_try(const char *dir)
{
    if (!dir || !*dir || include_dir[0])
        return include_dir[0] != '\0';
    char probe[600];
    const int n = snprintf(probe, sizeof probe, "%s/cuda_fp16.h", dir);
    if (n > 0 && (size_t)n < sizeof probe && access(probe, R_OK) == 0) {
        snprintf(include_dir, sizeof include_dir, "%s", dir);
        return true;
    }
    const size_t len = strlen(include_tried);
    snprintf(include_tried + len, sizeof include_tried - len, "%s%s", len ? ", " : "", dir);
    return false;
}

/* `root`/`sub` into out[size] and out; NULL if root is NULL or empty or
 * the path does not fit. */
static const char *path_join(char *out, size_t size, const char *root, const char *sub)
{
    if (!root || !*root)
        return NULL;
    const int n = snprintf(out, size, "%s/%s", root, sub);
    return n > 0 && (size_t)n < size ? out : NULL;
}

/* The first folder holding cuda_fp16.h of: the toolkit configure found
 * (QKV_CUDA_LIBDIR/../include), $CUDA_HOME/include, $CUDA_PATH/include,
 * the folder of the loaded libnvrtc/../include, /usr/local/cuda/include. */
static void include_find(void)
{
    char path[512];
#ifdef QKV_CUDA_LIBDIR
    if (include_try(path_join(path, sizeof path, QKV_CUDA_LIBDIR, "../include")))
        return;
#endif
    if (include_try(path_join(path, sizeof path, getenv("CUDA_HOME"), "include")) ||
        include_try(path_join(path, sizeof path, getenv("CUDA_PATH"), "include")))
        return;
    Dl_info where;
    if (dladdr((void *)rtc.Version, &where) && where.dli_fname) {
        char lib[512];
        snprintf(lib, sizeof lib, "%s", where.dli_fname);
        char *slash = strrchr(lib, '/');
        if (slash) {
            *slash = '\0';
            if (include_try(path_join(path, sizeof path, lib, "../include")))
                return;
        }
    }
    include_try("/usr/local/cuda/include");
}

/* The toolkit's include folder into *dir, or QKV_ERR_NO_BACKEND naming the
 * folders tried.  libnvrtc must be loaded. */
static qkv_status toolkit_include(const char **dir)
{
    if (pthread_once(&include_once, include_find) != 0 || !include_dir[0])
        return qkv_fail(QKV_ERR_NO_BACKEND,
                        "CUDA: the toolkit's include folder (with cuda_fp16.h), needed by the "
                        "native CUDA kernels, was not found; looked in: %s (set CUDA_HOME)",
                        include_tried[0] ? include_tried : "nothing");
    *dir = include_dir;
    return QKV_OK;
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
 * `defines`, which is split in place.  An OpenCL C program (include_option
 * NULL) is compiled with every function a device function; a native one
 * as CUDA C++17 with `include_option`.  The count, or -1 if too many. */
static int build_options(const char *arch_option, const char *include_option, char *defines,
                         const char **opts)
{
    int n = 0;
    if (include_option) {
        opts[n++] = "--std=c++17";
        opts[n++] = include_option;
    } else {
        opts[n++] = "-default-device";
        opts[n++] = "--std=c++14";
    }
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

/* Compile `source` of program `name` with `defines` for `arch_option` into
 * a malloc'd CUBIN (cubin) or PTX image: an OpenCL C program after the
 * prelude, a native CUDA one (qkv_kernel_is_native_cuda) as it is, with the
 * toolkit's include folder. */
static qkv_status nvrtc_compile(const char *name, const char *source, const char *defines,
                                const char *arch_option, bool cubin, char **image,
                                size_t *size)
{
    qkv_status st = nvrtc_require();
    if (st != QKV_OK)
        return st;
    const bool native = qkv_kernel_is_native_cuda(name);
    char file[80], split[512], include_option[560];
    const char *opts[MAX_OPTIONS];
    if (!defines)
        defines = "";
    if (snprintf(file, sizeof file, native ? "%s" : "%s.cl", name) >= (int)sizeof file ||
        snprintf(split, sizeof split, "%s", defines) >= (int)sizeof split)
        return qkv_fail(QKV_ERR_INVALID_ARG, "CUDA: program name or defines too long");
    if (native) {
        const char *dir;
        if ((st = toolkit_include(&dir)) != QKV_OK)
            return st;
        snprintf(include_option, sizeof include_option, "--include-path=%s", dir);
    }
    const int nopts = build_options(arch_option, native ? include_option : NULL, split, opts);
    if (nopts < 0)
        return qkv_fail(QKV_ERR_INVALID_ARG, "CUDA: too many defines in '%s'", defines);
    char *text = native ? strdup(source) : join_source(file, source);
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

/* See cuda_compile.h: a CUBIN for sm_XY where NVRTC can make one, else
 * compute_XY PTX. */
qkv_status qkv_cuda_compile_image(const char *program, const char *source, const char *defines,
                                  const char *arch, char **image, size_t *size)
{
    qkv_status st = nvrtc_require();
    if (st != QKV_OK)
        return st;
    const bool cubin = rtc.GetCUBINSize && rtc.GetCUBIN;
    char option[64];
    snprintf(option, sizeof option, "--gpu-architecture=%s%s", cubin ? "sm_" : "compute_",
             arch + strlen("sm_"));
    return nvrtc_compile(program, source, defines, option, cubin, image, size);
}

/* See cuda_compile.h: "NVRTC X.Y", or a note that libnvrtc is missing. */
void qkv_cuda_nvrtc_version(char *out, size_t size)
{
    int major = 0, minor = 0;
    if (nvrtc_loaded() && rtc.Version(&major, &minor) == NVRTC_SUCCESS)
        snprintf(out, size, "NVRTC %d.%d", major, minor);
    else
        snprintf(out, size, "NVRTC not loadable");
}
