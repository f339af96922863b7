/*
 * The data phase of a conversion between local files, in C (disk/io/native-disk.ts loads it,
 * disk/convert/native-copy.ts drives it). Each call runs on one libuv threadpool thread: a plain
 * pread → zero check → pwrite loop over a page-aligned 1 MiB buffer, no JS between the chunks.
 *
 * Why: the JS data path pays, per MiB, a threadpool round trip for the read and one for the
 * write, promise and buffer bookkeeping, and the main thread in between; measured here (raw →
 * fixed VHD, 1 GiB of data) that was ~0.15 s per GiB over a C loop doing the same system calls.
 * And ext4 charges its delayed allocation per page of a buffered write into a hole
 * (ext4_da_get_block_prep, extent status tree, quota): fallocate() of the range first makes the
 * write land in allocated (unwritten) blocks and the same copy took 0.13-0.19 s instead of
 * 0.31-0.46 s. qemu-img does neither; it takes ~0.4 s for that copy.
 *
 *   copy(srcFd, dstFd, directFd, runs, piece, flags, fill) -> Promise<[written, directWritten]>
 *     runs: Float64Array of [srcOff, dstOff, len] triples, done in order:
 *       srcOff >= 0  copy len bytes from srcFd at srcOff to dstOff; with SKIP_ZEROS (flags & 1)
 *                    the all-zero pieces (`piece` bytes from the run's start) are not written
 *       srcOff == -1 write len zero bytes at dstOff
 *       srcOff == -2 write the first len bytes of `fill` at dstOff
 *     FALLOCATE (flags & 2): fallocate each buffered write's range first (dropped for the rest of
 *       the call when the file system says it cannot).
 *     directFd >= 0: an O_DIRECT descriptor of the same file for writes whose offset and length
 *       are whole 4 KiB pages (our buffer always is); EINVAL there drops back to dstFd.
 *   scan(srcFd, runs, piece) -> Promise<Uint8Array>
 *     runs: Float64Array of [srcOff, len] pairs; one flag per piece of each run (ceil(len/piece)
 *     per run, in order): 1 when it holds a non-zero byte.
 * Errors reject with an Error whose code is the errno name (ENOSPC, EIO, …) or DISK_SHORT_READ
 * (the source ended early), with `syscall` and `position` set.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BUF_SIZE (1u << 20)
#define PAGE 4096u
#define SKIP_ZEROS 1
#define FALLOCATE 2

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  int is_scan;
  int src, dst, direct;
  double *runs;
  size_t nruns; /* number of doubles */
  size_t piece;
  int flags;
  uint8_t *fill;
  size_t fill_len;
  uint8_t *marks; /* scan result */
  size_t nmarks;
  /* results */
  double written, direct_written;
  int err;
  const char *syscall;
  double position;
} job_t;

static int all_zero(const uint8_t *p, size_t n) {
  const uint64_t *q = (const uint64_t *)p; /* p is 8-aligned: pieces start at multiples of 8 in our buffer */
  size_t words = n / 8, i = 0;
  for (; i + 4 <= words; i += 4)
    if (q[i] | q[i + 1] | q[i + 2] | q[i + 3]) return 0;
  for (; i < words; i++)
    if (q[i]) return 0;
  for (size_t b = words * 8; b < n; b++)
    if (p[b]) return 0;
  return 1;
}

static int fail(job_t *j, int err, const char *syscall, double position) {
  j->err = err;
  j->syscall = syscall;
  j->position = position;
  return -1;
}

/* Fill buf with n bytes at off; a source that ends early is DISK_SHORT_READ (err -1). */
static int read_full(job_t *j, uint8_t *buf, size_t n, off_t off) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = pread(j->src, buf + done, n - done, off + (off_t)done);
    if (r < 0) {
      if (errno == EINTR) continue;
      return fail(j, errno, "pread", (double)(off + (off_t)done));
    }
    if (r == 0) return fail(j, -1, "pread", (double)(off + (off_t)done));
    done += (size_t)r;
  }
  return 0;
}

static int write_fd(int fd, const uint8_t *p, size_t n, off_t off) {
  size_t done = 0;
  while (done < n) {
    ssize_t w = pwrite(fd, p + done, n - done, off + (off_t)done);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (w == 0) return -EIO;
    done += (size_t)w;
  }
  return 0;
}

/* One write of our buffer (or the zero/fill buffer): O_DIRECT when whole pages, else buffered. */
static int put(job_t *j, const uint8_t *p, size_t n, off_t off) {
  if (j->direct >= 0 && off % PAGE == 0 && n % PAGE == 0 && ((uintptr_t)p) % PAGE == 0) {
    int r = write_fd(j->direct, p, n, off);
    if (r == 0) {
      j->direct_written += (double)n;
      j->written += (double)n;
      return 0;
    }
    if (r != -EINVAL) return fail(j, -r, "pwrite", (double)off);
    j->direct = -1; /* this file system wants another alignment: buffered from now on */
  }
  if (j->flags & FALLOCATE) {
    if (fallocate(j->dst, 0, off, (off_t)n) != 0) {
      if (errno == ENOSPC) return fail(j, ENOSPC, "fallocate", (double)off);
      j->flags &= ~FALLOCATE; /* EOPNOTSUPP, ENOSYS, …: plain writes */
    }
  }
  int r = write_fd(j->dst, p, n, off);
  if (r != 0) return fail(j, -r, "pwrite", (double)off);
  j->written += (double)n;
  return 0;
}

static int copy_run(job_t *j, uint8_t *buf, const uint8_t *zero, double so, double dof, double len) {
  off_t src = (off_t)so, dst = (off_t)dof;
  size_t total = (size_t)len;
  for (size_t o = 0; o < total;) {
    size_t n = total - o < BUF_SIZE ? total - o : BUF_SIZE;
    if (so == -1) {
      if (put(j, zero, n, dst + (off_t)o)) return -1;
    } else if (so == -2) {
      if (n > j->fill_len) return fail(j, EINVAL, "pwrite", (double)(dst + (off_t)o));
      if (put(j, j->fill, n, dst + (off_t)o)) return -1;
    } else {
      /* Pieces are counted from the run's start: keep n a multiple of the piece. */
      if (read_full(j, buf, n, src + (off_t)o)) return -1;
      if (!(j->flags & SKIP_ZEROS)) {
        if (put(j, buf, n, dst + (off_t)o)) return -1;
      } else {
        size_t run_at = 0, run_len = 0;
        for (size_t p = 0; p < n; p += j->piece) {
          size_t m = n - p < j->piece ? n - p : j->piece;
          if (all_zero(buf + p, m)) {
            if (run_len && put(j, buf + run_at, run_len, dst + (off_t)(o + run_at))) return -1;
            run_len = 0;
          } else {
            if (!run_len) run_at = p;
            run_len += m;
          }
        }
        if (run_len && put(j, buf + run_at, run_len, dst + (off_t)(o + run_at))) return -1;
      }
    }
    o += n;
  }
  return 0;
}

static int scan_run(job_t *j, uint8_t *buf, double so, double len, size_t *mark) {
  off_t src = (off_t)so;
  size_t total = (size_t)len;
  for (size_t o = 0; o < total;) {
    size_t n = total - o < BUF_SIZE ? total - o : BUF_SIZE;
    if (read_full(j, buf, n, src + (off_t)o)) return -1;
    for (size_t p = 0; p < n; p += j->piece) {
      size_t m = n - p < j->piece ? n - p : j->piece;
      j->marks[(*mark)++] = all_zero(buf + p, m) ? 0 : 1;
    }
    o += n;
  }
  return 0;
}

static void execute(napi_env env, void *data) {
  (void)env;
  job_t *j = data;
  uint8_t *buf = NULL, *zero = NULL;
  if (posix_memalign((void **)&buf, PAGE, BUF_SIZE) != 0) {
    fail(j, ENOMEM, "malloc", 0);
    return;
  }
  if (!j->is_scan && posix_memalign((void **)&zero, PAGE, BUF_SIZE) != 0) {
    free(buf);
    fail(j, ENOMEM, "malloc", 0);
    return;
  }
  if (zero) memset(zero, 0, BUF_SIZE);
  size_t mark = 0;
  if (j->is_scan) {
    for (size_t i = 0; i + 1 < j->nruns; i += 2)
      if (scan_run(j, buf, j->runs[i], j->runs[i + 1], &mark)) break;
  } else {
    for (size_t i = 0; i + 2 < j->nruns; i += 3)
      if (copy_run(j, buf, zero, j->runs[i], j->runs[i + 1], j->runs[i + 2])) break;
  }
  free(buf);
  free(zero);
}

static napi_value make_error(napi_env env, job_t *j) {
  char msg[160];
  const char *code = j->err == -1 ? "DISK_SHORT_READ" : strerrorname_np(j->err);
  if (!code) code = "EIO";
  if (j->err == -1) snprintf(msg, sizeof msg, "the source ended at %.0f", j->position);
  else snprintf(msg, sizeof msg, "%s, %s at %.0f", strerror(j->err), j->syscall, j->position);
  napi_value m, c, e, v;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c);
  napi_create_error(env, c, m, &e);
  napi_create_string_utf8(env, j->syscall ? j->syscall : "", NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, e, "syscall", v);
  napi_create_double(env, j->position, &v);
  napi_set_named_property(env, e, "position", v);
  if (j->err > 0) {
    napi_create_int32(env, -j->err, &v);
    napi_set_named_property(env, e, "errno", v);
  }
  return e;
}

static void complete(napi_env env, napi_status status, void *data) {
  job_t *j = data;
  napi_value result;
  if (status != napi_ok) {
    j->err = ECANCELED;
    j->syscall = "queue";
  }
  if (j->err) {
    napi_reject_deferred(env, j->deferred, make_error(env, j));
  } else if (j->is_scan) {
    void *out;
    napi_create_buffer_copy(env, j->nmarks, j->marks, &out, &result);
    napi_resolve_deferred(env, j->deferred, result);
  } else {
    napi_value a, b;
    napi_create_array_with_length(env, 2, &result);
    napi_create_double(env, j->written, &a);
    napi_create_double(env, j->direct_written, &b);
    napi_set_element(env, result, 0, a);
    napi_set_element(env, result, 1, b);
    napi_resolve_deferred(env, j->deferred, result);
  }
  napi_delete_async_work(env, j->work);
  free(j->runs);
  free(j->fill);
  free(j->marks);
  free(j);
}

static int arg_int(napi_env env, napi_value v, int *out) {
  return napi_get_value_int32(env, v, out) == napi_ok;
}

/* Copies the Float64Array's numbers (the caller may reuse it at once). */
static int arg_runs(napi_env env, napi_value v, job_t *j) {
  bool is;
  napi_typedarray_type type;
  size_t length;
  void *data;
  napi_value ab;
  size_t offset;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return 0;
  if (napi_get_typedarray_info(env, v, &type, &length, &data, &ab, &offset) != napi_ok || type != napi_float64_array) return 0;
  j->runs = malloc((length ? length : 1) * sizeof(double));
  if (!j->runs) return 0;
  memcpy(j->runs, data, length * sizeof(double));
  j->nruns = length;
  return 1;
}

static napi_value start(napi_env env, job_t *j, const char *name) {
  napi_value promise, res;
  napi_create_promise(env, &j->deferred, &promise);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &res);
  napi_create_async_work(env, NULL, res, execute, complete, j, &j->work);
  napi_queue_async_work(env, j->work);
  return promise;
}

static napi_value bad(napi_env env, job_t *j, const char *msg) {
  if (j) {
    free(j->runs);
    free(j->fill);
    free(j->marks);
    free(j);
  }
  napi_throw_type_error(env, "CE_NATIVE_DISK", msg);
  return NULL;
}

/* A job for copy() or scan() from the call's arguments (up to `max`); NULL with a JS exception thrown. */
static job_t *new_job(napi_env env, napi_callback_info info, size_t *argc, napi_value *a, const char *name) {
  napi_get_cb_info(env, info, argc, a, NULL, NULL);
  job_t *j = calloc(1, sizeof *j);
  if (!j) bad(env, NULL, name);
  return j;
}

/* The piece size: divides the 1 MiB buffer, at least a sector. 0 with a JS exception thrown. */
static int set_piece(napi_env env, napi_value v, job_t *j, const char *msg) {
  int piece;
  if (!arg_int(env, v, &piece) || piece < 512 || (unsigned)piece > BUF_SIZE || BUF_SIZE % (unsigned)piece != 0) {
    bad(env, j, msg);
    return 0;
  }
  j->piece = (size_t)piece;
  return 1;
}

static napi_value js_copy(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value a[7];
  job_t *j = new_job(env, info, &argc, a, "copy: out of memory");
  if (!j) return NULL;
  if (argc < 6 || !arg_int(env, a[0], &j->src) || !arg_int(env, a[1], &j->dst) || !arg_int(env, a[2], &j->direct) || !arg_runs(env, a[3], j) ||
      !arg_int(env, a[5], &j->flags))
    return bad(env, j, "copy(srcFd, dstFd, directFd, runs: Float64Array, piece, flags, fill?)");
  if (!set_piece(env, a[4], j, "copy: piece must divide 1 MiB and be ≥ 512")) return NULL;
  if (argc >= 7) {
    bool is = false;
    napi_is_buffer(env, a[6], &is);
    if (is) {
      void *p;
      size_t n;
      napi_get_buffer_info(env, a[6], &p, &n);
      if (n > BUF_SIZE) return bad(env, j, "copy: fill is larger than 1 MiB");
      if (posix_memalign((void **)&j->fill, PAGE, n ? n : 1) != 0) return bad(env, j, "copy: out of memory");
      memcpy(j->fill, p, n);
      j->fill_len = n;
    }
  }
  return start(env, j, "ce-disk-copy");
}

static napi_value js_scan(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value a[3];
  job_t *j = new_job(env, info, &argc, a, "scan: out of memory");
  if (!j) return NULL;
  j->is_scan = 1;
  j->dst = j->direct = -1;
  if (argc < 3 || !arg_int(env, a[0], &j->src) || !arg_runs(env, a[1], j)) return bad(env, j, "scan(srcFd, runs: Float64Array, piece)");
  if (!set_piece(env, a[2], j, "scan: piece must divide 1 MiB and be ≥ 512")) return NULL;
  for (size_t i = 0; i + 1 < j->nruns; i += 2) j->nmarks += ((size_t)j->runs[i + 1] + j->piece - 1) / j->piece;
  j->marks = malloc(j->nmarks ? j->nmarks : 1);
  if (!j->marks) return bad(env, j, "scan: out of memory");
  return start(env, j, "ce-disk-scan");
}

/* fallocate(fd, offset, length) -> 0 or the errno (synchronous: a metadata update of microseconds). */
static napi_value js_fallocate(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value a[3], out;
  int fd;
  double off, len;
  napi_get_cb_info(env, info, &argc, a, NULL, NULL);
  if (argc < 3 || !arg_int(env, a[0], &fd) || napi_get_value_double(env, a[1], &off) != napi_ok || napi_get_value_double(env, a[2], &len) != napi_ok)
    return bad(env, NULL, "fallocate(fd, offset, length)");
  int r = fallocate(fd, 0, (off_t)off, (off_t)len) == 0 ? 0 : errno;
  napi_create_int32(env, r, &out);
  return out;
}

NAPI_MODULE_INIT() {
  napi_value f;
  napi_create_function(env, "copy", NAPI_AUTO_LENGTH, js_copy, NULL, &f);
  napi_set_named_property(env, exports, "copy", f);
  napi_create_function(env, "scan", NAPI_AUTO_LENGTH, js_scan, NULL, &f);
  napi_set_named_property(env, exports, "scan", f);
  napi_create_function(env, "fallocate", NAPI_AUTO_LENGTH, js_fallocate, NULL, &f);
  napi_set_named_property(env, exports, "fallocate", f);
  return exports;
}
