/* Content-addressed file storage under STORAGE_DIR: a write goes to a
 * temporary file, is fsynced and renamed into place, so a crash never
 * leaves a half file where a reader would find it. */
#ifndef DELIVERYD_FILES_H
#define DELIVERYD_FILES_H

#include <stddef.h>

#include "deliveryd/util.h"

/** Stores data as <sha256>.<ext> under STORAGE_DIR/ab/cd/; fills sha (65
 * bytes) and the path relative to STORAGE_DIR (rel, >= 96 bytes). */
int files_store(const void *data, size_t len, const char *ext, char *sha, char *rel,
                size_t rellen) MUSTCHECK;
/** Opens a stored file for reading; -1 when missing. */
int files_open(const char *rel);
/** Removes temporary files a crash may have left (called at start). */
void files_clean_tmp(void);
/** "image/jpeg", "image/png" or NULL from the first bytes. */
const char *files_image_type(const void *data, size_t len);

#endif
