#include <semaphore.h>
#include <sodium.h>
#include <string.h>

#include "deliveryd/auth.h"

/* argon2id INTERACTIVE needs 64 MiB per hash: bound how many run at once
 * so a burst of logins cannot exhaust memory; other requests go on. */
#define MAX_CONCURRENT_HASHES 4

static sem_t hash_slots;
static char dummy_hash[crypto_pwhash_STRBYTES];
static bool ready;

int password_global_init(void)
{
    if (ready) return 0;
    if (sem_init(&hash_slots, 0, MAX_CONCURRENT_HASHES) != 0) return -1;
    unsigned char junk[16];
    randombytes_buf(junk, sizeof junk);
    char pw[33];
    hex_encode(junk, sizeof junk, pw);
    if (crypto_pwhash_str(dummy_hash, pw, strlen(pw), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return -1;
    ready = true;
    return 0;
}

int password_hash(const char *password, char out[PASSWORD_HASH_LEN])
{
    while (sem_wait(&hash_slots) != 0) {
    }
    int rc = crypto_pwhash_str(out, password, strlen(password),
                               crypto_pwhash_OPSLIMIT_INTERACTIVE,
                               crypto_pwhash_MEMLIMIT_INTERACTIVE);
    sem_post(&hash_slots);
    return rc == 0 ? 0 : -1;
}

bool password_verify(const char *password, const char *hash)
{
    bool known = hash != NULL && strncmp(hash, "$argon2id$", 10) == 0;
    const char *h = known ? hash : dummy_hash;
    while (sem_wait(&hash_slots) != 0) {
    }
    int rc = crypto_pwhash_str_verify(h, password, strlen(password));
    sem_post(&hash_slots);
    return known && rc == 0;
}

void random_token(char out[48])
{
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(out, 48, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

void sha256_bytes(const char *s, size_t len, unsigned char out[32])
{
    crypto_hash_sha256(out, (const unsigned char *)s, len);
}
