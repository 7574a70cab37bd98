/* A lean HTTP/1.1 load client for the certseal server benchmarks: bench/loadgen.py compiles and runs it in place of
 * its asyncio client, whose ~26 us of CPU per request would otherwise take a visible share of the cores the server
 * is measured on.
 *
 *     loadgen -p PORT -t SECONDS -c CONNECTIONS [-s SUCCESS_HEX] < requests
 *
 * One process, one epoll loop, CONNECTIONS keep-alive TCP connections to 127.0.0.1:PORT (TCP_NODELAY), each with
 * one request in flight at a time (no pipelining). The requests are read from stdin, pre-built by Python, as records
 * "<decimal length>\n<length bytes>"; each exchange sends one picked at random. No request starts after SECONDS; the
 * ones in flight then finish. An answer counts as ok when its status is 200 and the first 12 bytes of its body
 * contain the SUCCESS_HEX bytes, else as an error. As in the Python client, a well-formed answer keeps its
 * connection unless it says `Connection: close` (or is HTTP/1.0), while an I/O or protocol failure counts an error,
 * closes the connection and reconnects after 10 ms. Prints one JSON line:
 * {"ok", "errors", "elapsed", "client_cpu", "p50", "p99"} (seconds; latencies of the ok answers only).
 *
 * Plain C11 + POSIX + Linux epoll: cc -O2 -Wall -Wextra -std=c11 -o loadgen loadgen.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RECV_SIZE (256 * 1024)     /* one shared receive buffer: bodies are counted, not kept */
#define HEAD_LIMIT (1024 * 1024)   /* a status line and headers longer than this are a protocol failure */
#define PREFIX_SIZE 12             /* the body bytes the success bytes are looked for in */
#define RETRY_PAUSE 0.010          /* seconds before reconnecting after a failure */
#define GRACE 30.0                 /* seconds past the deadline after which answers still awaited are failures */
#define MAX_EVENTS 256

typedef struct {
    const unsigned char *data;
    size_t len;
} request_t;

typedef enum { CONNECTING, SENDING, HEAD, BODY, UNTIL_CLOSE, PAUSED, DONE } state_t;

typedef struct {
    int fd;
    state_t state;
    uint32_t events; /* what epoll watches for on fd */
    const request_t *request;
    size_t sent;
    unsigned char *head;
    size_t head_len, head_cap;
    unsigned long long body_left;
    unsigned char prefix[PREFIX_SIZE];
    size_t prefix_len;
    int status_ok, close_after;
    double started, wake;
} conn_t;

static struct {
    int epoll, port;
    request_t *requests;
    size_t request_count;
    unsigned char success[PREFIX_SIZE];
    size_t success_len;
    double deadline;
    uint64_t rng;
    double *latencies;
    size_t ok, latencies_cap;
    unsigned long long errors;
    size_t active, paused;
} run;

static unsigned char receive_buffer[RECV_SIZE];

static void die(const char *what) {
    perror(what);
    exit(2);
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static uint64_t next_random(void) { /* xorshift64* */
    run.rng ^= run.rng >> 12;
    run.rng ^= run.rng << 25;
    run.rng ^= run.rng >> 27;
    return run.rng * 0x2545F4914F6CDD1DULL;
}

/* --- epoll bookkeeping ------------------------------------------------------------------------------------------ */

static void watch(conn_t *c, uint32_t events) {
    if (c->events == events)
        return;
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(run.epoll, c->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &ev) < 0)
        die("epoll_ctl");
    c->events = events;
}

static void close_connection(conn_t *c) {
    if (c->fd >= 0)
        close(c->fd); /* also drops it from the epoll set */
    c->fd = -1;
    c->events = 0;
}

/* --- one exchange ----------------------------------------------------------------------------------------------- */

static void start_exchange(conn_t *c, double t);

static void finish(conn_t *c) {
    close_connection(c);
    c->state = DONE;
    run.active--;
}

static void fail(conn_t *c, double t) {
    run.errors++;
    close_connection(c);
    c->state = PAUSED;
    c->wake = t + RETRY_PAUSE;
    run.paused++;
}

static void record_latency(double latency) {
    if (run.ok == run.latencies_cap) {
        run.latencies_cap = run.latencies_cap ? run.latencies_cap * 2 : 65536;
        run.latencies = realloc(run.latencies, run.latencies_cap * sizeof *run.latencies);
        if (!run.latencies)
            die("realloc");
    }
    run.latencies[run.ok++] = latency;
}

static int prefix_holds_success(const conn_t *c) {
    if (run.success_len == 0)
        return 1;
    for (size_t i = 0; i + run.success_len <= c->prefix_len; i++)
        if (memcmp(c->prefix + i, run.success, run.success_len) == 0)
            return 1;
    return 0;
}

static void complete(conn_t *c, double t) {
    if (c->status_ok && prefix_holds_success(c))
        record_latency(t - c->started);
    else
        run.errors++;
    if (c->close_after)
        close_connection(c);
    start_exchange(c, t);
}

static void send_request(conn_t *c, double t) {
    while (c->sent < c->request->len) {
        ssize_t n = send(c->fd, c->request->data + c->sent, c->request->len - c->sent, MSG_NOSIGNAL);
        if (n > 0) {
            c->sent += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            c->state = SENDING;
            watch(c, EPOLLOUT);
            return;
        } else {
            fail(c, t);
            return;
        }
    }
    c->state = HEAD;
    c->head_len = 0;
    c->prefix_len = 0;
    watch(c, EPOLLIN);
}

static void open_connection(conn_t *c, double t) {
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        fail(c, t);
        return;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)run.port)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int r;
    do
        r = connect(c->fd, (struct sockaddr *)&to, sizeof to);
    while (r < 0 && errno == EINTR);
    if (r == 0) {
        send_request(c, t);
    } else if (errno == EINPROGRESS) {
        c->state = CONNECTING;
        watch(c, EPOLLOUT);
    } else {
        fail(c, t);
    }
}

static void start_exchange(conn_t *c, double t) {
    if (t >= run.deadline) {
        finish(c);
        return;
    }
    c->started = t;
    c->request = &run.requests[(next_random() >> 11) % run.request_count];
    c->sent = 0;
    if (c->fd < 0)
        open_connection(c, t);
    else
        send_request(c, t);
}

/* --- parsing the answer ----------------------------------------------------------------------------------------- */

static int lower(int ch) { return ch >= 'A' && ch <= 'Z' ? ch + 32 : ch; }

static int name_is(const unsigned char *name, size_t len, const char *expected) {
    size_t i = 0;
    for (; i < len && expected[i]; i++)
        if (lower(name[i]) != expected[i])
            return 0;
    return i == len && expected[i] == '\0';
}

static int holds_close_token(const unsigned char *value, size_t len) { /* Connection: a, close, b */
    size_t i = 0;
    while (i < len) {
        while (i < len && (value[i] == ' ' || value[i] == '\t' || value[i] == ','))
            i++;
        size_t start = i;
        while (i < len && value[i] != ',')
            i++;
        size_t end = i;
        while (end > start && (value[end - 1] == ' ' || value[end - 1] == '\t'))
            end--;
        if (name_is(value + start, end - start, "close"))
            return 1;
    }
    return 0;
}

/* Status line and headers in head[0..len) (ending "\r\n\r\n"): sets status_ok, close_after and the body's framing;
 * 0 on a protocol failure. */
static int parse_head(conn_t *c, const unsigned char *head, size_t len) {
    if (len < 16 || memcmp(head, "HTTP/1.", 7) != 0 || head[8] != ' ')
        return 0;
    int status = 0;
    for (int i = 9; i < 12; i++) {
        if (head[i] < '0' || head[i] > '9')
            return 0;
        status = status * 10 + (head[i] - '0');
    }
    if (head[12] != ' ' && head[12] != '\r')
        return 0;
    if (status < 200) /* no Expect is sent, so no interim answer is either */
        return 0;
    c->status_ok = status == 200;
    c->close_after = head[7] == '0';
    long long length = -1;
    int chunked = 0;
    const unsigned char *line = (const unsigned char *)memchr(head, '\n', len) + 1, *end = head + len;
    while (line < end) {
        const unsigned char *eol = memchr(line, '\n', (size_t)(end - line));
        size_t line_len = (size_t)(eol - line);
        if (line_len > 0 && line[line_len - 1] == '\r')
            line_len--;
        if (line_len == 0)
            break;
        const unsigned char *colon = memchr(line, ':', line_len);
        if (!colon)
            return 0;
        size_t name_len = (size_t)(colon - line);
        const unsigned char *value = colon + 1, *value_end = line + line_len;
        while (value < value_end && (*value == ' ' || *value == '\t'))
            value++;
        while (value_end > value && (value_end[-1] == ' ' || value_end[-1] == '\t'))
            value_end--;
        if (name_is(line, name_len, "content-length")) {
            if (value == value_end)
                return 0;
            long long parsed = 0;
            for (const unsigned char *v = value; v < value_end; v++) {
                if (*v < '0' || *v > '9' || parsed > (1LL << 50))
                    return 0;
                parsed = parsed * 10 + (*v - '0');
            }
            if (length >= 0 && parsed != length)
                return 0;
            length = parsed;
        } else if (name_is(line, name_len, "connection")) {
            if (holds_close_token(value, (size_t)(value_end - value)))
                c->close_after = 1;
        } else if (name_is(line, name_len, "transfer-encoding")) {
            chunked = 1;
        }
        line = eol + 1;
    }
    if (status == 204 || status == 304)
        length = 0;
    if (length < 0 && chunked) /* the benchmarks' server always sends Content-Length: chunked is not read here */
        return 0;
    if (length < 0) { /* no length: the body runs to the end of the connection, as in HTTP/1.0 */
        c->state = UNTIL_CLOSE;
        c->close_after = 1;
    } else {
        c->state = BODY;
        c->body_left = (unsigned long long)length;
    }
    return 1;
}

static void keep_prefix(conn_t *c, const unsigned char *p, size_t n) {
    size_t room = PREFIX_SIZE - c->prefix_len;
    if (n > room)
        n = room;
    memcpy(c->prefix + c->prefix_len, p, n);
    c->prefix_len += n;
}

static int append_head(conn_t *c, const unsigned char *p, size_t n) {
    if (c->head_len + n > c->head_cap) {
        size_t cap = c->head_cap ? c->head_cap : 4096;
        while (cap < c->head_len + n)
            cap *= 2;
        if (cap > HEAD_LIMIT + RECV_SIZE)
            return 0;
        unsigned char *grown = realloc(c->head, cap);
        if (!grown)
            die("realloc");
        c->head = grown;
        c->head_cap = cap;
    }
    memcpy(c->head + c->head_len, p, n);
    c->head_len += n;
    return 1;
}

static const unsigned char *find_head_end(const unsigned char *p, size_t len, size_t from) {
    for (size_t i = from; i + 4 <= len; i++)
        if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' && p[i + 3] == '\n')
            return p + i + 4;
    return NULL;
}

/* n received bytes of the answer on c. */
static void feed(conn_t *c, const unsigned char *p, size_t n, double t) {
    if (c->state == HEAD) {
        size_t from = c->head_len > 3 ? c->head_len - 3 : 0;
        if (!append_head(c, p, n)) {
            fail(c, t);
            return;
        }
        const unsigned char *end = find_head_end(c->head, c->head_len, from);
        if (!end) {
            if (c->head_len > HEAD_LIMIT)
                fail(c, t);
            return;
        }
        if (!parse_head(c, c->head, (size_t)(end - c->head))) {
            fail(c, t);
            return;
        }
        p = end; /* the body's first bytes, if any, are still in the head buffer: nothing writes it before the next read */
        n = c->head_len - (size_t)(end - c->head);
        c->head_len = 0;
    }
    if (c->state == UNTIL_CLOSE) {
        keep_prefix(c, p, n);
        return;
    }
    size_t take = (unsigned long long)n < c->body_left ? n : (size_t)c->body_left;
    keep_prefix(c, p, take);
    c->body_left -= take;
    if (c->body_left > 0)
        return;
    if (n > take) /* bytes beyond the answer to the one request in flight */
        fail(c, t);
    else
        complete(c, t);
}

static void receive(conn_t *c, double t) {
    ssize_t n;
    do
        n = recv(c->fd, receive_buffer, sizeof receive_buffer, 0);
    while (n < 0 && errno == EINTR);
    if (n > 0)
        feed(c, receive_buffer, (size_t)n, t);
    else if (n == 0 && c->state == UNTIL_CLOSE)
        complete(c, t);
    else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
        fail(c, t);
}

static void on_event(conn_t *c, double t) {
    if (c->state == CONNECTING) {
        int error = 0;
        socklen_t size = sizeof error;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &error, &size) < 0 || error != 0)
            fail(c, t);
        else
            send_request(c, t);
    } else if (c->state == SENDING) {
        send_request(c, t);
    } else if (c->state == HEAD || c->state == BODY || c->state == UNTIL_CLOSE) {
        receive(c, t);
    }
}

/* --- the run ---------------------------------------------------------------------------------------------------- */

static void wake_paused(conn_t *conns, size_t count, double t) {
    for (size_t i = 0; i < count && run.paused; i++) {
        if (conns[i].state == PAUSED && conns[i].wake <= t) {
            run.paused--;
            start_exchange(&conns[i], t);
        }
    }
}

static int wait_ms(const conn_t *conns, size_t count, double t) {
    double until = run.deadline + GRACE;
    if (run.paused)
        for (size_t i = 0; i < count; i++)
            if (conns[i].state == PAUSED && conns[i].wake < until)
                until = conns[i].wake;
    double ms = (until - t) * 1000.0 + 0.999;
    return ms <= 0 ? 0 : ms > 1e6 ? 1000000 : (int)ms;
}

static void drive(conn_t *conns, size_t count) {
    struct epoll_event events[MAX_EVENTS];
    double t = now();
    for (size_t i = 0; i < count; i++)
        start_exchange(&conns[i], t);
    while (run.active) {
        int n = epoll_wait(run.epoll, events, MAX_EVENTS, wait_ms(conns, count, t));
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        t = now();
        for (int i = 0; i < n; i++)
            on_event(events[i].data.ptr, t);
        if (run.paused)
            wake_paused(conns, count, t);
        if (t >= run.deadline + GRACE) /* answers still awaited will not come: count them as failures */
            for (size_t i = 0; i < count; i++)
                if (conns[i].state != DONE) {
                    if (conns[i].state == PAUSED)
                        run.paused--;
                    else
                        run.errors++;
                    finish(&conns[i]);
                }
    }
}

/* --- input and output ------------------------------------------------------------------------------------------- */

static unsigned char *read_all(FILE *in, size_t *len) {
    size_t cap = 1 << 16, used = 0;
    unsigned char *data = malloc(cap);
    if (!data)
        die("malloc");
    for (;;) {
        if (used == cap) {
            cap *= 2;
            data = realloc(data, cap);
            if (!data)
                die("realloc");
        }
        size_t got = fread(data + used, 1, cap - used, in);
        used += got;
        if (got == 0) {
            if (ferror(in))
                die("reading the requests");
            break;
        }
    }
    *len = used;
    return data;
}

/* Records "<decimal length>\n<bytes>" from stdin. */
static void read_requests(void) {
    size_t len, cap = 0;
    const unsigned char *data = read_all(stdin, &len), *p = data, *end = data + len;
    while (p < end) {
        size_t size = 0;
        const unsigned char *digits = p;
        while (p < end && *p >= '0' && *p <= '9')
            size = size * 10 + (size_t)(*p++ - '0');
        if (p == digits || p == end || *p != '\n' || size > (size_t)(end - p - 1)) {
            fprintf(stderr, "loadgen: malformed request record at byte %zu of stdin\n", (size_t)(digits - data));
            exit(2);
        }
        p++;
        if (run.request_count == cap) {
            cap = cap ? cap * 2 : 64;
            run.requests = realloc(run.requests, cap * sizeof *run.requests);
            if (!run.requests)
                die("realloc");
        }
        run.requests[run.request_count++] = (request_t){p, size};
        p += size;
    }
    if (run.request_count == 0) {
        fprintf(stderr, "loadgen: no requests on stdin\n");
        exit(2);
    }
}

static int hex_digit(int ch) {
    ch = lower(ch);
    return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

static void parse_success(const char *hex) {
    size_t len = strlen(hex);
    if (len % 2 || len / 2 > PREFIX_SIZE) {
        fprintf(stderr, "loadgen: -s takes up to %d bytes in hex, not %s\n", PREFIX_SIZE, hex);
        exit(2);
    }
    for (size_t i = 0; i < len; i += 2) {
        int high = hex_digit(hex[i]), low = hex_digit(hex[i + 1]);
        if (high < 0 || low < 0) {
            fprintf(stderr, "loadgen: -s takes hex digits, not %s\n", hex);
            exit(2);
        }
        run.success[run.success_len++] = (unsigned char)(high * 16 + low);
    }
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double cpu_seconds(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return (double)(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           (double)(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6;
}

static void report(double elapsed) {
    double p50 = 0, p99 = 0;
    size_t n = run.ok;
    if (n) {
        qsort(run.latencies, n, sizeof *run.latencies, compare_doubles);
        p50 = n % 2 ? run.latencies[n / 2] : (run.latencies[n / 2 - 1] + run.latencies[n / 2]) / 2;
        size_t at = (size_t)((double)n * 0.99);
        p99 = run.latencies[at < n - 1 ? at : n - 1];
    }
    printf("{\"ok\": %zu, \"errors\": %llu, \"elapsed\": %.9f, \"client_cpu\": %.6f, \"p50\": %.9f, \"p99\": %.9f}\n",
           n, run.errors, elapsed, cpu_seconds(), p50, p99);
}

static long positive(const char *text, const char *what) {
    char *end;
    long value = strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0' || value <= 0) {
        fprintf(stderr, "loadgen: %s must be a positive integer, not %s\n", what, text);
        exit(2);
    }
    return value;
}

int main(int argc, char **argv) {
    double seconds = -1;
    long connections = 0;
    int opt;
    while ((opt = getopt(argc, argv, "p:t:c:s:")) != -1) {
        switch (opt) {
        case 'p': run.port = (int)positive(optarg, "-p PORT"); break;
        case 't': seconds = strtod(optarg, NULL); break;
        case 'c': connections = positive(optarg, "-c CONNECTIONS"); break;
        case 's': parse_success(optarg); break;
        default:
            fprintf(stderr, "usage: %s -p PORT -t SECONDS -c CONNECTIONS [-s SUCCESS_HEX] < requests\n", argv[0]);
            return 2;
        }
    }
    if (run.port <= 0 || run.port > 65535 || !(seconds >= 0) || connections <= 0) {
        fprintf(stderr, "usage: %s -p PORT -t SECONDS -c CONNECTIONS [-s SUCCESS_HEX] < requests\n", argv[0]);
        return 2;
    }
    read_requests();
    run.rng = ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid() ^ UINT64_C(0x9E3779B97F4A7C15);
    run.epoll = epoll_create1(EPOLL_CLOEXEC);
    if (run.epoll < 0)
        die("epoll_create1");
    conn_t *conns = calloc((size_t)connections, sizeof *conns);
    if (!conns)
        die("calloc");
    for (long i = 0; i < connections; i++)
        conns[i].fd = -1;
    run.active = (size_t)connections;
    double started = now();
    run.deadline = started + seconds;
    drive(conns, (size_t)connections);
    report(now() - started);
    return 0;
}
