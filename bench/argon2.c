/* bench_argon2: the reference for logins per second.
 *
 * Verifies one argon2id hash (libsodium's crypto_pwhash_str, INTERACTIVE
 * limits: the parameters deliveryd hashes passwords with) in THREADS threads
 * (default 4: deliveryd lets 4 hashes run at once) for SECONDS seconds
 * (default 5) and prints "RESULT <verifies/s> <ms per verify>". A login is
 * one such verification plus a few small queries, so logins/s over this is
 * what the rest of the login costs.
 *
 *   THREADS=4 SECONDS=5 bench_argon2 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

static const char password[] = "bench-password-1234";
static char hash[crypto_pwhash_STRBYTES];
static double deadline;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void *worker(void *arg)
{
    long *count = arg;
    while (now() < deadline) {
        if (crypto_pwhash_str_verify(hash, password, strlen(password)) != 0) {
            fprintf(stderr, "bench_argon2: verification failed\n");
            exit(1);
        }
        (*count)++;
    }
    return NULL;
}

static long env_long(const char *name, long def)
{
    const char *v = getenv(name);
    long n = v && *v ? strtol(v, NULL, 10) : def;
    return n > 0 && n <= 64 ? n : def;
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    long threads = env_long("THREADS", 4), seconds = env_long("SECONDS", 5);
    if (crypto_pwhash_str(hash, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
        fprintf(stderr, "bench_argon2: out of memory\n");
        return 1;
    }
    pthread_t tid[64];
    long counts[64] = {0};
    double start = now();
    deadline = start + (double)seconds;
    for (long i = 0; i < threads; i++)
        if (pthread_create(&tid[i], NULL, worker, &counts[i]) != 0) return 1;
    long total = 0;
    for (long i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
        total += counts[i];
    }
    double elapsed = now() - start;
    printf("RESULT %.2f %.1f\n", (double)total / elapsed,
           total ? elapsed * 1000.0 * (double)threads / (double)total : 0.0);
    return 0;
}
