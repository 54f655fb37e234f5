#ifndef WORKBENCH_HDF5_SHIM_H
#define WORKBENCH_HDF5_SHIM_H
#include <hdf5.h>
/* HDF5 exposes its predefined types and property-list defaults as macros that
   expand to global variables behind H5open(); Swift cannot import those macros,
   so these inline functions hand the values over. */
static inline hid_t wb_h5t_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t wb_h5t_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t wb_h5t_native_int32(void) { return H5T_NATIVE_INT32; }
static inline hid_t wb_h5t_native_int64(void) { return H5T_NATIVE_INT64; }
static inline hid_t wb_h5t_c_s1(void) { return H5T_C_S1; }
static inline hid_t wb_h5p_default(void) { return H5P_DEFAULT; }
static inline hid_t wb_h5p_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline hid_t wb_h5s_all(void) { return H5S_ALL; }
static inline size_t wb_h5t_variable(void) { return H5T_VARIABLE; }
static inline unsigned wb_h5f_acc_trunc(void) { return H5F_ACC_TRUNC; }
static inline unsigned wb_h5f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline hid_t wb_h5e_default(void) { return H5E_DEFAULT; }
static inline hid_t wb_h5p_link_create(void) { return H5P_LINK_CREATE; }
/* Silences HDF5's own error-stack printing: the workbench reports its own errors. */
static inline void wb_h5_silence_errors(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }
#endif
