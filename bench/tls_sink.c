/* A bare TLS-to-file sink for bench/run: accepts TLS connections on 127.0.0.1 and appends every
 * byte received to one file, parsing nothing (one thread per connection, OpenSSL read-ahead,
 * 64 KiB SSL_read, one O_APPEND write per read). Prints "PORT\n" on stdout once listening.
 * bench/run compiles it (cc -O2 ... -lssl -lcrypto -lpthread); bench/tls_sink.py is the
 * fallback when that fails.
 *
 *   tls_sink --cert CERT --key KEY --out FILE
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static SSL_CTX *ctx;
static int out_fd;

static void *serve(void *arg)
{
    int fd = (int)(long)arg;
    SSL *ssl = SSL_new(ctx);
    static __thread char buf[1 << 16];
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) == 1) {
        for (;;) {
            int n = SSL_read(ssl, buf, sizeof buf);
            if (n <= 0)
                break;
            for (int off = 0; off < n;) {
                ssize_t w = write(out_fd, buf + off, (size_t)(n - off));
                if (w <= 0)
                    goto done;
                off += (int)w;
            }
        }
    }
done:
    SSL_free(ssl);
    close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *cert = NULL, *key = NULL, *out = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--cert")) cert = argv[i + 1];
        else if (!strcmp(argv[i], "--key")) key = argv[i + 1];
        else if (!strcmp(argv[i], "--out")) out = argv[i + 1];
    }
    if (!cert || !key || !out) {
        fprintf(stderr, "usage: tls_sink --cert CERT --key KEY --out FILE\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(ctx, 0);
    out_fd = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out_fd < 0) {
        perror(out);
        return 1;
    }
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(ls, (struct sockaddr *)&sa, sizeof sa) || listen(ls, 128) ||
        getsockname(ls, (struct sockaddr *)&sa, &sl)) {
        perror("listen");
        return 1;
    }
    printf("%d\n", ntohs(sa.sin_port));
    fflush(stdout);
    for (;;) {
        int c = accept(ls, NULL, NULL);
        if (c < 0)
            continue;
        pthread_t t;
        if (pthread_create(&t, NULL, serve, (void *)(long)c) == 0)
            pthread_detach(t);
        else
            close(c);
    }
}
