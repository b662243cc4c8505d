/* sip_tls.c: TLS as a byte stream (sip_tls.h): contexts, the handshake, SSL_read and SSL_write
 * with their WANT_READ / WANT_WRITE turns mapped onto the seam's SIP_IO_* results, SNI and the
 * peer's name check, close_notify. The connection, its socket and its watcher stay with the
 * transport; this file only sees the socket through its BIO. */
#define _GNU_SOURCE
#include "sip_tls.h"
#include "sip_tls_name.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define MAX_SETTINGS 64 /* distinct sets of TLS settings in one sip_tp */

/* One set of settings (sip_tls_settings) with its contexts, made when first needed. */
typedef struct tls_profile {
  char *cert, *key, *ca;
  int verify;  /* client side: 1, or -1 don't */
  int clients; /* server side: SIP_TLS_CLIENTS_* */
  SSL_CTX *srv, *cli;
} tls_profile;

/* Shared by one sip_tp's TLS connections: prof[0] is sip_tp_config's settings. */
typedef struct tls_layer {
  tls_profile prof[MAX_SETTINGS];
  unsigned nprof;
  BIO_METHOD *bio;
} tls_layer;

/* One connection. */
typedef struct tls_conn {
  SSL *ssl;
  int fd;
  uint8_t eof;   /* the socket said end of file */
  uint8_t fatal; /* failed: no close_notify on close */
  char *name;    /* client side: the SIP domain the server must prove (RFC 5922 §7.2) */
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

static void profile_free(tls_profile *p) {
  free(p->cert);
  free(p->key);
  free(p->ca);
  SSL_CTX_free(p->srv);
  SSL_CTX_free(p->cli);
  memset(p, 0, sizeof *p);
}

static int same_str(const char *a, const char *b) { return a == b || (a && b && !strcmp(a, b)); }

static int profile_is(const tls_profile *p, const sip_tls_settings *s) {
  return same_str(p->cert, s->cert) && same_str(p->key, s->key) && same_str(p->ca, s->ca) &&
         p->verify == (s->verify < 0 ? -1 : 1) && p->clients == s->clients;
}

static int profile_init(tls_profile *p, const sip_tls_settings *s) {
  memset(p, 0, sizeof *p);
  p->verify = s->verify < 0 ? -1 : 1;
  p->clients = s->clients;
  if ((s->cert && !(p->cert = strdup(s->cert))) || (s->key && !(p->key = strdup(s->key))) ||
      (s->ca && !(p->ca = strdup(s->ca)))) {
    profile_free(p);
    return -1;
  }
  return 0;
}

static void *tls_setup(const sip_tp_config *cfg) {
  tls_layer *l = calloc(1, sizeof *l);
  if (!l) return NULL;
  sip_tls_settings s = {cfg->tls_cert, cfg->tls_key, cfg->tls_ca, cfg->tls_verify,
                        cfg->tls_clients};
  if (profile_init(&l->prof[0], &s) < 0) {
    free(l);
    return NULL;
  }
  l->nprof = 1;
  return l;
}

static void tls_teardown(void *layer) {
  tls_layer *l = layer;
  if (!l) return;
  for (unsigned i = 0; i < l->nprof; i++) profile_free(&l->prof[i]);
  BIO_meth_free(l->bio);
  free(l);
}

/* The same settings get the same id, so connections made under them may be shared. */
static int tls_configure(void *layer, const sip_tls_settings *s, const char **err) {
  tls_layer *l = layer;
  if (s->clients < SIP_TLS_CLIENTS_NONE || s->clients > SIP_TLS_CLIENTS_REQUIRE) {
    *err = "unknown client certificate mode";
    return -1;
  }
  for (unsigned i = 0; i < l->nprof; i++)
    if (profile_is(&l->prof[i], s)) return (int)i;
  if (l->nprof == MAX_SETTINGS) {
    *err = "too many different TLS settings";
    return -1;
  }
  if (profile_init(&l->prof[l->nprof], s) < 0) {
    *err = "out of memory";
    return -1;
  }
  return (int)l->nprof++;
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

/* Our own certificate chain and key: a server's, or a client's for mutual TLS. */
static int load_identity(SSL_CTX *ctx, const tls_profile *p, const char **err) {
  if (SSL_CTX_use_certificate_chain_file(ctx, p->cert) != 1) {
    *err = tls_err("cannot load tls_cert");
    return -1;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, p->key, SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    *err = tls_err("cannot load tls_key");
    return -1;
  }
  return 0;
}

/* The trust store: the CA file or hashed directory of ca, else the system's. */
static int load_trust(SSL_CTX *ctx, const char *ca, const char **err) {
  struct stat sb;
  int ok;
  if (!ca) ok = SSL_CTX_set_default_verify_paths(ctx);
  else if (stat(ca, &sb) == 0 && S_ISDIR(sb.st_mode))
    ok = SSL_CTX_load_verify_locations(ctx, NULL, ca);
  else ok = SSL_CTX_load_verify_locations(ctx, ca, NULL);
  if (ok != 1) {
    *err = tls_err("cannot load tls_ca");
    return -1;
  }
  return 0;
}

/* "request": a client certificate is asked for, and whatever comes is shown (verified or not);
 * "require": the handshake fails without one that verifies. */
static int accept_any(int ok, X509_STORE_CTX *x) {
  (void)ok;
  (void)x;
  return 1;
}

static int tls_server_ctx(tls_profile *p, const char **err) {
  if (p->srv) return 0;
  if (!p->cert || !p->key) {
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
  if (load_identity(ctx, p, err) < 0 ||
      (p->clients != SIP_TLS_CLIENTS_NONE && load_trust(ctx, p->ca, err) < 0)) {
    SSL_CTX_free(ctx);
    return -1;
  }
  if (p->clients == SIP_TLS_CLIENTS_REQUIRE)
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
  else if (p->clients == SIP_TLS_CLIENTS_REQUEST)
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any);
  if (p->clients != SIP_TLS_CLIENTS_NONE && p->ca) {
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(p->ca); /* NULL for a directory */
    if (names) SSL_CTX_set_client_CA_list(ctx, names);
    ERR_clear_error();
  }
  p->srv = ctx;
  return 0;
}

static int tls_client_ctx(tls_profile *p, const char **err) {
  if (p->cli) return 0;
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) {
    *err = tls_err("SSL_CTX_new failed");
    return -1;
  }
  tls_ctx_common(ctx);
  if ((p->verify >= 0 && load_trust(ctx, p->ca, err) < 0) ||
      (p->cert && p->key && load_identity(ctx, p, err) < 0)) {
    SSL_CTX_free(ctx);
    return -1;
  }
  SSL_CTX_set_verify(ctx, p->verify >= 0 ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
  p->cli = ctx;
  return 0;
}

static int tls_prepare(void *layer, uint32_t settings, int server, const char **err) {
  tls_layer *l = layer;
  if (settings >= l->nprof) {
    *err = "unknown TLS settings";
    return -1;
  }
  tls_profile *p = &l->prof[settings];
  return server ? tls_server_ctx(p, err) : tls_client_ctx(p, err);
}

/* ---- one connection ------------------------------------------------------------------------- */

static int is_ip_literal(const char *s) {
  unsigned char b[16];
  return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

/* The side's context was made by tls_prepare. */
static int tls_attach(void *layer, sip_stream *s, uint32_t settings, int server, const char *name,
                      const struct sockaddr *peer, const char **err) {
  tls_layer *l = layer;
  tls_profile *p = &l->prof[settings < l->nprof ? settings : 0];
  tls_conn *t = calloc(1, sizeof *t);
  if (!t || tls_bio_method(l) < 0) {
    free(t);
    *err = "out of memory";
    return -1;
  }
  t->fd = s->fd;
  s->priv = t;
  SSL *ssl = SSL_new(server ? p->srv : p->cli);
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
  int named = name && !is_ip_literal(name);
  if (named && SSL_set_tlsext_host_name(ssl, name) != 1) { /* RFC 6066 §3: names, never IPs */
    *err = "cannot set the TLS server name";
    return -1;
  }
  if (p->verify < 0) return 0;
  if (named) { /* checked after the handshake, by RFC 5922's rules (sip_tls_name.h) */
    if (!(t->name = strdup(name))) {
      *err = "out of memory";
      return -1;
    }
    return 0;
  }
  char ip[INET6_ADDRSTRLEN];
  const char *lit = name;
  if (!lit) {
    int port;
    sip_tp_addr_str((const struct sockaddr_storage *)(const void *)peer, ip, sizeof ip, &port);
    lit = ip;
  }
  if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), lit) != 1) {
    *err = "cannot set the TLS peer address";
    return -1;
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
  if (r == 1) {
    X509 *cert = t->name ? SSL_get0_peer_certificate(t->ssl) : NULL;
    if (t->name && (!cert || !sip_tls_proves(cert, t->name))) {
      t->fatal = 1;
      s->err = EPROTO;
      s->what = "certificate name mismatch";
      return SIP_IO_FAIL;
    }
    return 0;
  }
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
  free(t->name);
  free(t);
  s->priv = NULL;
}

static int tls_peer(const sip_stream *s, sip_tp_tls_info *info, sip_tp_name_cb each, void *ud) {
  const tls_conn *t = s->priv;
  X509 *cert = SSL_get0_peer_certificate(t->ssl);
  info->version = SSL_get_version(t->ssl);
  info->cipher = SSL_get_cipher_name(t->ssl);
  info->has_cert = cert != NULL;
  info->verified = cert && SSL_get_verify_result(t->ssl) == X509_V_OK;
  if (cert && each) sip_tls_each_identity(cert, each, ud);
  return 0;
}

const sip_stream_ops sip_tls_stream = {
  .name = "tls",
  .checks_name = 1,
  .setup = tls_setup,
  .teardown = tls_teardown,
  .configure = tls_configure,
  .prepare = tls_prepare,
  .attach = tls_attach,
  .handshake = tls_handshake,
  .read = tls_read,
  .write = tls_write,
  .pending = tls_pending,
  .shutdown = tls_shutdown,
  .release = tls_release,
  .peer = tls_peer,
};
