#include "CHDF5Probe.h"
#include <hdf5.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* Strings read per H5Dread: bounds the child's memory on a dataset of millions of ids. */
enum { block = 4096 };

/* Variable-length C strings in memory, in the file type's character set (libhdf5 converts
   no string between ASCII and UTF-8). */
static hid_t memory_string_type(hid_t file_type) {
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5Tget_cset(file_type));
    return type;
}

static void read_string_dataset(hid_t dataset) {
    hid_t type = H5Dget_type(dataset);
    if (type < 0) return;
    int is_string = H5Tget_class(type) == H5T_STRING && H5Tis_variable_str(type) > 0;
    hid_t memory_type = is_string ? memory_string_type(type) : -1;
    H5Tclose(type);
    if (!is_string) return;
    hid_t space = H5Dget_space(dataset);
    if (space < 0) { H5Tclose(memory_type); return; }
    hssize_t count = H5Sget_simple_extent_npoints(space);
    int rank = H5Sget_simple_extent_ndims(space);
    hsize_t dims[H5S_MAX_RANK];
    if (rank > 0 && rank <= H5S_MAX_RANK) H5Sget_simple_extent_dims(space, dims, NULL);
    char **values = malloc(sizeof(char *) * block);
    if (values && count > 0 && rank >= 0 && rank <= H5S_MAX_RANK) {
        /* Every element, `block` at a time in row-major order. */
        for (hssize_t start = 0; start < count; start += block) {
            hsize_t n = (hsize_t)(count - start < block ? count - start : block);
            hid_t file_space = H5Scopy(space);
            if (rank == 0) {
                H5Sselect_all(file_space);
            } else {
                /* Elements start..start+n of the dataset in row-major order, as points. */
                hsize_t *coordinates = malloc(sizeof(hsize_t) * (size_t)n * (size_t)rank);
                if (!coordinates) { H5Sclose(file_space); break; }
                for (hsize_t i = 0; i < n; i++) {
                    hsize_t index = (hsize_t)start + i;
                    for (int d = rank - 1; d >= 0; d--) {
                        coordinates[i * (hsize_t)rank + (hsize_t)d] = dims[d] ? index % dims[d] : 0;
                        index = dims[d] ? index / dims[d] : 0;
                    }
                }
                H5Sselect_elements(file_space, H5S_SELECT_SET, n, coordinates);
                free(coordinates);
            }
            hid_t memory_space = H5Screate_simple(1, &n, NULL);
            if (H5Dread(dataset, memory_type, memory_space, file_space, H5P_DEFAULT, values) >= 0)
                H5Dvlen_reclaim(memory_type, memory_space, H5P_DEFAULT, values);
            H5Sclose(memory_space);
            H5Sclose(file_space);
        }
    }
    free(values);
    H5Tclose(memory_type);
    H5Sclose(space);
}

static herr_t read_string_attribute(hid_t object, const char *name, const H5A_info_t *info, void *data) {
    (void)info; (void)data;
    hid_t attribute = H5Aopen(object, name, H5P_DEFAULT);
    if (attribute < 0) return 0;
    hid_t type = H5Aget_type(attribute);
    hid_t space = H5Aget_space(attribute);
    if (type >= 0 && space >= 0 && H5Tget_class(type) == H5T_STRING && H5Tis_variable_str(type) > 0) {
        hssize_t count = H5Sget_simple_extent_npoints(space);
        if (count > 0 && count <= (1 << 20)) {
            char **values = calloc((size_t)count, sizeof(char *));
            hid_t memory_type = memory_string_type(type);
            if (values && H5Aread(attribute, memory_type, values) >= 0)
                H5Dvlen_reclaim(memory_type, space, H5P_DEFAULT, values);
            H5Tclose(memory_type);
            free(values);
        }
    }
    if (space >= 0) H5Sclose(space);
    if (type >= 0) H5Tclose(type);
    H5Aclose(attribute);
    return 0;
}

static void read_object(hid_t file, const char *name) {
    hid_t object = H5Oopen(file, name, H5P_DEFAULT);
    if (object < 0) return;
    hsize_t index = 0;
    H5Aiterate2(object, H5_INDEX_NAME, H5_ITER_NATIVE, &index, read_string_attribute, NULL);
    if (H5Iget_type(object) == H5I_DATASET) read_string_dataset(object);
    H5Oclose(object);
}

static herr_t visit_link(hid_t group, const char *name, const H5L_info_t *info, void *data) {
    (void)group;
    if (info->type == H5L_TYPE_HARD) read_object(*(hid_t *)data, name);
    return 0;
}

static void probe(const char *path) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) return;
    read_object(file, "/");
    H5Lvisit(file, H5_INDEX_NAME, H5_ITER_NATIVE, visit_link, &file);
    H5Fclose(file);
    /* Hands libhdf5's free lists back to malloc, whose checks may then catch an overrun. */
    H5garbage_collect();
}

/* Present when a sanitizer runtime is linked (the fuzz targets): what runs after its report. */
extern void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

static void die_quietly(void) { _exit(1); }

int wb_h5_probe_strings(const char *path, unsigned timeout_seconds) {
    pid_t child = fork();
    if (child < 0) return -1;
    if (child == 0) {
        /* Die of the signal itself, with no handler of the parent's (or a sanitizer's) in
           the way, and not after the time given; under a sanitizer, exit after its report
           rather than run the parent's callbacks (libFuzzer's would record a crash). */
        int signals[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, SIGALRM};
        for (unsigned i = 0; i < sizeof signals / sizeof signals[0]; i++) signal(signals[i], SIG_DFL);
        if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(die_quietly);
        alarm(timeout_seconds);
        probe(path);
        _exit(0);
    }
    int status = 0;
    while (waitpid(child, &status, 0) < 0) {
        if (errno != EINTR) return -1;
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
