/*
 * AES-GCM seal/open into caller-given buffers, for SMB 3 encryption (network/smb/native-aead.ts).
 *
 * Why native: node:crypto's cipher.update() returns a new buffer every call (in Node 20 it
 * allocates len + 1 zero-filled bytes, then len more, and copies), so each GiB sent costs two
 * fresh gigabytes of memory, their page faults and two copies on top of the AES itself. No npm
 * package offers AES-128-GCM into a given buffer. OpenSSL's EVP already lives in the node
 * binary (its symbols are exported for addons), so this is a thin N-API wrapper around
 * EVP_EncryptUpdate/EVP_DecryptUpdate with the output pointer we choose: one pass, no allocation.
 *
 *   seal(key, iv, aad, parts[], out, tag): encrypt the concatenation of `parts` into `out`
 *     (out.length == total length; out may be a part itself for in-place), tag (16 bytes) out.
 *   open(key, iv, aad, tag, src, out) -> bool: decrypt `src` into `out` (may be `src`); false
 *     when the tag does not verify (out then holds unauthenticated bytes: discard them).
 * Keys of 16 or 32 bytes select AES-128-GCM or AES-256-GCM; the IV is 12 bytes.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <string.h>

#define CHECK(call)                                                                            \
  do {                                                                                         \
    if ((call) != napi_ok) {                                                                   \
      napi_throw_error(env, "CE_AEAD", "aead: N-API call failed: " #call);                     \
      return NULL;                                                                             \
    }                                                                                          \
  } while (0)

typedef struct {
  uint8_t *data;
  size_t length;
} bytes_t;

/* A Buffer/Uint8Array argument (any backing store, SharedArrayBuffer included). */
static int get_bytes(napi_env env, napi_value v, bytes_t *out, const char *what) {
  bool is;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) {
    char msg[96];
    snprintf(msg, sizeof msg, "aead: %s must be a Buffer", what);
    napi_throw_type_error(env, "CE_AEAD", msg);
    return 0;
  }
  napi_typedarray_type type;
  size_t length;
  void *data;
  napi_value ab;
  size_t offset;
  if (napi_get_typedarray_info(env, v, &type, &length, &data, &ab, &offset) != napi_ok || type != napi_uint8_array) {
    napi_throw_type_error(env, "CE_AEAD", "aead: expected a Uint8Array");
    return 0;
  }
  out->data = (uint8_t *)data;
  out->length = length;
  return 1;
}

static const EVP_CIPHER *cipher_for(napi_env env, const bytes_t *key, const bytes_t *iv) {
  if (iv->length != 12) {
    napi_throw_range_error(env, "CE_AEAD", "aead: the IV must be 12 bytes");
    return NULL;
  }
  if (key->length == 16) return EVP_aes_128_gcm();
  if (key->length == 32) return EVP_aes_256_gcm();
  napi_throw_range_error(env, "CE_AEAD", "aead: the key must be 16 or 32 bytes");
  return NULL;
}

/* EVP lengths are int: feed at most 1 GiB per call. */
#define STEP ((size_t)1 << 30)

static int update(EVP_CIPHER_CTX *ctx, int enc, uint8_t *out, const uint8_t *in, size_t n) {
  while (n > 0) {
    int step = (int)(n < STEP ? n : STEP), got = 0;
    if ((enc ? EVP_EncryptUpdate(ctx, out, &got, in, step) : EVP_DecryptUpdate(ctx, out, &got, in, step)) != 1 || got != step) return 0;
    out += step;
    in += step;
    n -= (size_t)step;
  }
  return 1;
}

/* The six arguments of seal/open; 0 (and a TypeError thrown) when there are not six. */
static int six_args(napi_env env, napi_callback_info info, napi_value argv[6], const char *usage) {
  size_t argc = 6;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 6) {
    napi_throw_type_error(env, "CE_AEAD", usage);
    return 0;
  }
  return 1;
}

static napi_value seal(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  if (!six_args(env, info, argv, "aead.seal(key, iv, aad, parts, out, tag)")) return NULL;
  bytes_t key, iv, aad, out, tag;
  if (!get_bytes(env, argv[0], &key, "key") || !get_bytes(env, argv[1], &iv, "iv") || !get_bytes(env, argv[2], &aad, "aad") ||
      !get_bytes(env, argv[4], &out, "out") || !get_bytes(env, argv[5], &tag, "tag"))
    return NULL;
  bool is_array;
  uint32_t count;
  CHECK(napi_is_array(env, argv[3], &is_array));
  if (!is_array) {
    napi_throw_type_error(env, "CE_AEAD", "aead: parts must be an array of Buffers");
    return NULL;
  }
  CHECK(napi_get_array_length(env, argv[3], &count));
  if (tag.length != 16) {
    napi_throw_range_error(env, "CE_AEAD", "aead: the tag buffer must be 16 bytes");
    return NULL;
  }
  const EVP_CIPHER *cipher = cipher_for(env, &key, &iv);
  if (!cipher) return NULL;
  /* Check the lengths before touching any output. */
  size_t total = 0;
  for (uint32_t i = 0; i < count; i++) {
    napi_value p;
    bytes_t b;
    CHECK(napi_get_element(env, argv[3], i, &p));
    if (!get_bytes(env, p, &b, "every part")) return NULL;
    total += b.length;
  }
  if (total != out.length) {
    napi_throw_range_error(env, "CE_AEAD", "aead: out must be as long as the parts together");
    return NULL;
  }
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  int ok = ctx && EVP_EncryptInit_ex(ctx, cipher, NULL, key.data, iv.data) == 1;
  int got = 0;
  if (ok && aad.length) ok = aad.length < STEP && EVP_EncryptUpdate(ctx, NULL, &got, aad.data, (int)aad.length) == 1;
  size_t at = 0;
  for (uint32_t i = 0; ok && i < count; i++) {
    napi_value p;
    bytes_t b;
    CHECK(napi_get_element(env, argv[3], i, &p));
    if (!get_bytes(env, p, &b, "every part")) {
      EVP_CIPHER_CTX_free(ctx);
      return NULL;
    }
    ok = update(ctx, 1, out.data + at, b.data, b.length);
    at += b.length;
  }
  if (ok) ok = EVP_EncryptFinal_ex(ctx, out.data + at, &got) == 1 && got == 0;
  if (ok) ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag.data) == 1;
  EVP_CIPHER_CTX_free(ctx);
  if (!ok) napi_throw_error(env, "CE_AEAD", "aead: OpenSSL failed to encrypt");
  return NULL;
}

static napi_value open_(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  if (!six_args(env, info, argv, "aead.open(key, iv, aad, tag, src, out)")) return NULL;
  bytes_t key, iv, aad, tag, src, out;
  if (!get_bytes(env, argv[0], &key, "key") || !get_bytes(env, argv[1], &iv, "iv") || !get_bytes(env, argv[2], &aad, "aad") ||
      !get_bytes(env, argv[3], &tag, "tag") || !get_bytes(env, argv[4], &src, "src") || !get_bytes(env, argv[5], &out, "out"))
    return NULL;
  if (tag.length != 16) {
    napi_throw_range_error(env, "CE_AEAD", "aead: the tag must be 16 bytes");
    return NULL;
  }
  if (out.length != src.length) {
    napi_throw_range_error(env, "CE_AEAD", "aead: out must be as long as src");
    return NULL;
  }
  const EVP_CIPHER *cipher = cipher_for(env, &key, &iv);
  if (!cipher) return NULL;
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  int ok = ctx && EVP_DecryptInit_ex(ctx, cipher, NULL, key.data, iv.data) == 1;
  int got = 0;
  if (ok && aad.length) ok = aad.length < STEP && EVP_DecryptUpdate(ctx, NULL, &got, aad.data, (int)aad.length) == 1;
  if (ok) ok = update(ctx, 0, out.data, src.data, src.length);
  if (ok) ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, tag.data) == 1;
  int verified = ok && EVP_DecryptFinal_ex(ctx, out.data + out.length, &got) == 1;
  EVP_CIPHER_CTX_free(ctx);
  if (!ok) {
    napi_throw_error(env, "CE_AEAD", "aead: OpenSSL failed to decrypt");
    return NULL;
  }
  napi_value result;
  CHECK(napi_get_boolean(env, verified, &result));
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "seal", NAPI_AUTO_LENGTH, seal, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "seal", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "open", NAPI_AUTO_LENGTH, open_, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "open", fn) != napi_ok) return NULL;
  return exports;
}
