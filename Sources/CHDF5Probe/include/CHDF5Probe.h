#ifndef CHDF5PROBE_H
#define CHDF5PROBE_H

/// Reads every variable-length string of an HDF5 file (datasets and attributes, all groups)
/// in a child process, because Debian's libhdf5 1.10 trusts the references such strings hold
/// (an index into a global heap) and crashes on a file whose references are corrupt, where
/// no check of ours can run first (and it can also loop forever). Returns 0 when the child read them all (or failed cleanly:
/// the caller reports what libhdf5 says), 1 when the child crashed, hung for more than
/// `timeout_seconds` or was stopped, and -1 when no child could be started.
int wb_h5_probe_strings(const char *path, unsigned timeout_seconds);

#endif
