/* sip_tls.c: TLS as a byte stream (sip_tls.h): contexts, the handshake, SSL_read and SSL_write
 * with their WANT_READ / WANT_WRITE turns mapped onto the seam's SIP_IO_* results, SNI and the
 * peer's name check, close_notify. The connection, its socket and its watcher stay with the
 * transport; this file only sees the socket through its BIO. */
#define _GNU_SOURCE
#include "sip_tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* Shared by one sip_tp's TLS connections. The contexts are made when first needed. */
typedef struct tls_layer {
  char *cert, *key, *ca;
  int verify; /* 1, or -1: don't (tests only) */
  SSL_CTX *srv, *cli;
  BIO_METHOD *bio;
} tls_layer;

/* One connection. */
typedef struct tls_conn {
  SSL *ssl;
  int fd;
  uint8_t eof;   /* the socket said end of file */
  uint8_t fatal; /* failed: no close_notify on close */
} tls_conn;

/* ---- the socket BIO ------------------------------------------------------------------------- */

/* A socket BIO that sends with MSG_NOSIGNAL: OpenSSL's own uses write(), which raises SIGPIPE
 * when the peer is gone, and a library must not depend on the process ignoring it. */
static int bio_write(BIO *b, const char *buf, int len) {
  tls_conn *t = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  ssize_t n = send(t->fd, buf, (size_t)len, MSG_NOSIGNAL);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) BIO_set_retry_write(b);
    return -1;
  }
  return (int)n;
}

static int bio_read(BIO *b, char *buf, int len) {
  tls_conn *t = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  ssize_t n = recv(t->fd, buf, (size_t)len, 0);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) BIO_set_retry_read(b);
    return -1;
  }
  if (n == 0) t->eof = 1;
  return (int)n;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
  tls_conn *t = BIO_get_data(b);
  (void)num;
  (void)ptr;
  switch (cmd) {
  case BIO_CTRL_FLUSH: return 1;
  case BIO_CTRL_EOF: return t && t->eof;
  default: return 0;
  }
}

static int bio_create(BIO *b) {
  BIO_set_init(b, 1);
  return 1;
}

static int tls_bio_method(tls_layer *l) {
  if (l->bio) return 0;
  BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "sip socket");
  if (!m) return -1;
  BIO_meth_set_write(m, bio_write);
  BIO_meth_set_read(m, bio_read);
  BIO_meth_set_ctrl(m, bio_ctrl);
  BIO_meth_set_create(m, bio_create);
  l->bio = m;
  return 0;
}

/* ---- contexts ------------------------------------------------------------------------------- */

static void *tls_setup(const sip_tp_config *cfg) {
  tls_layer *l = calloc(1, sizeof *l);
  if (!l) return NULL;
  l->verify = cfg->tls_verify < 0 ? -1 : 1;
  if ((cfg->tls_cert && !(l->cert = strdup(cfg->tls_cert))) ||
      (cfg->tls_key && !(l->key = strdup(cfg->tls_key))) ||
      (cfg->tls_ca && !(l->ca = strdup(cfg->tls_ca)))) {
    free(l->cert);
    free(l->key);
    free(l->ca);
    free(l);
    return NULL;
  }
  return l;
}

static void tls_teardown(void *layer) {
  tls_layer *l = layer;
  if (!l) return;
  free(l->cert);
  free(l->key);
  free(l->ca);
  SSL_CTX_free(l->srv);
  SSL_CTX_free(l->cli);
  BIO_meth_free(l->bio);
  free(l);
}

static void tls_ctx_common(SSL_CTX *ctx) {
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  /* EOF without close_notify is how many SIP peers hang up; messages are length-framed, so a
   * truncation cannot pass as a whole message. Renegotiation only serves DoS. */
  SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
  /* Release the 16 KiB record buffers of idle connections; let a queued write resume from
   * wherever the queue has moved to. */
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                          SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
}

static const char *tls_err(const char *dflt) {
  unsigned long e = ERR_peek_last_error();
  const char *r = e ? ERR_reason_error_string(e) : NULL;
  ERR_clear_error();
  return r ? r : dflt;
}

static int tls_server_ctx(tls_layer *l, const char **err) {
  if (l->srv) return 0;
  if (!l->cert || !l->key) {
    *err = "TLS listener needs tls_cert and tls_key";
    return -1;
  }
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) {
    *err = tls_err("SSL_CTX_new failed");
    return -1;
  }
  tls_ctx_common(ctx);
  SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_use_certificate_chain_file(ctx, l->cert) != 1) {
    *err = tls_err("cannot load tls_cert");
    SSL_CTX_free(ctx);
    return -1;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, l->key, SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    *err = tls_err("cannot load tls_key");
    SSL_CTX_free(ctx);
    return -1;
  }
  l->srv = ctx;
  return 0;
}

static int tls_client_ctx(tls_layer *l, const char **err) {
  if (l->cli) return 0;
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) {
    *err = tls_err("SSL_CTX_new failed");
    return -1;
  }
  tls_ctx_common(ctx);
  if (l->verify >= 0) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    int ok = l->ca ? SSL_CTX_load_verify_locations(ctx, l->ca, NULL)
                   : SSL_CTX_set_default_verify_paths(ctx);
    if (ok != 1) {
      *err = tls_err("cannot load tls_ca");
      SSL_CTX_free(ctx);
      return -1;
    }
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
  }
  l->cli = ctx;
  return 0;
}

static int tls_prepare(void *layer, int server, const char **err) {
  return server ? tls_server_ctx(layer, err) : tls_client_ctx(layer, err);
}

/* ---- one connection ------------------------------------------------------------------------- */

static int is_ip_literal(const char *s) {
  unsigned char b[16];
  return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

/* The side's context was made by tls_prepare. */
static int tls_attach(void *layer, sip_stream *s, int server, const char *name,
                      const struct sockaddr *peer, const char **err) {
  tls_layer *l = layer;
  tls_conn *t = calloc(1, sizeof *t);
  if (!t || tls_bio_method(l) < 0) {
    free(t);
    *err = "out of memory";
    return -1;
  }
  t->fd = s->fd;
  s->priv = t;
  SSL *ssl = SSL_new(server ? l->srv : l->cli);
  BIO *b = ssl ? BIO_new(l->bio) : NULL;
  if (!b) {
    SSL_free(ssl);
    *err = tls_err("SSL_new failed");
    return -1;
  }
  BIO_set_data(b, t);
  SSL_set_bio(ssl, b, b);
  t->ssl = ssl;
  if (server) {
    SSL_set_accept_state(ssl);
    return 0;
  }
  SSL_set_connect_state(ssl);
  if (name && !is_ip_literal(name)) SSL_set_tlsext_host_name(ssl, name); /* RFC 6066 §3: no IPs */
  if (l->verify >= 0) {
    int ok;
    if (name && !is_ip_literal(name)) {
      SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      ok = SSL_set1_host(ssl, name);
    } else {
      char ip[INET6_ADDRSTRLEN];
      const char *lit = name;
      if (!lit) {
        int port;
        sip_tp_addr_str((const struct sockaddr_storage *)(const void *)peer, ip, sizeof ip, &port);
        lit = ip;
      }
      ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), lit);
    }
    if (ok != 1) {
      *err = "cannot set the TLS peer name";
      return -1;
    }
  }
  return 0;
}

/* SIP_IO_FAIL, with s->err and s->what. */
static int tls_fail(sip_stream *s, int ssl_err, const char *dflt) {
  tls_conn *t = s->priv;
  t->fatal = 1;
  if (ssl_err == SSL_ERROR_SYSCALL) {
    ERR_clear_error();
    s->err = errno ? errno : ECONNRESET;
    s->what = t->eof ? "closed by peer" : "connection failed";
    return SIP_IO_FAIL;
  }
  long v = SSL_get_verify_result(t->ssl);
  if (v != X509_V_OK) {
    s->what = X509_verify_cert_error_string(v);
    ERR_clear_error();
  } else {
    s->what = tls_err(dflt);
  }
  s->err = EPROTO;
  return SIP_IO_FAIL;
}

static int tls_handshake(sip_stream *s) {
  tls_conn *t = s->priv;
  ERR_clear_error();
  int r = SSL_do_handshake(t->ssl);
  if (r == 1) return 0;
  int e = SSL_get_error(t->ssl, r);
  if (e == SSL_ERROR_WANT_READ) return SIP_IO_WANT_READ;
  if (e == SSL_ERROR_WANT_WRITE) return SIP_IO_WANT_WRITE;
  return tls_fail(s, e, "TLS handshake failed");
}

static long tls_read(sip_stream *s, char *dst, size_t room) {
  tls_conn *t = s->priv;
  ERR_clear_error();
  int n = SSL_read(t->ssl, dst, room > INT_MAX ? INT_MAX : (int)room);
  if (n > 0) return n;
  int e = SSL_get_error(t->ssl, n);
  if (e == SSL_ERROR_WANT_READ) return SIP_IO_WANT_READ;
  if (e == SSL_ERROR_WANT_WRITE) return SIP_IO_WANT_WRITE;
  if (e == SSL_ERROR_ZERO_RETURN) { /* close_notify: ours goes back on close */
    s->err = 0;
    s->what = "closed by peer";
    return SIP_IO_FAIL;
  }
  return tls_fail(s, e, "TLS read failed");
}

static long tls_write(sip_stream *s, const char *p, size_t n) {
  tls_conn *t = s->priv;
  ERR_clear_error();
  int r = SSL_write(t->ssl, p, n > INT_MAX ? INT_MAX : (int)n);
  if (r > 0) return r;
  int e = SSL_get_error(t->ssl, r);
  if (e == SSL_ERROR_WANT_WRITE) return SIP_IO_WANT_WRITE;
  if (e == SSL_ERROR_WANT_READ) return SIP_IO_WANT_READ;
  return tls_fail(s, e, "TLS write failed");
}

static size_t tls_pending(const sip_stream *s) {
  const tls_conn *t = s->priv;
  int n = SSL_pending(t->ssl);
  return n > 0 ? (size_t)n : 0;
}

static void tls_shutdown(sip_stream *s) {
  tls_conn *t = s->priv;
  if (t->fatal) return;
  SSL_shutdown(t->ssl); /* best effort close_notify; never waits */
  ERR_clear_error();
}

static void tls_release(sip_stream *s) {
  tls_conn *t = s->priv;
  if (!t) return;
  SSL_free(t->ssl);
  free(t);
  s->priv = NULL;
}

const sip_stream_ops sip_tls_stream = {
  .name = "tls",
  .checks_name = 1,
  .setup = tls_setup,
  .teardown = tls_teardown,
  .prepare = tls_prepare,
  .attach = tls_attach,
  .handshake = tls_handshake,
  .read = tls_read,
  .write = tls_write,
  .pending = tls_pending,
  .shutdown = tls_shutdown,
  .release = tls_release,
};
