/*
 * bundle.h -- keeping the admin bundle of a local cluster fresh. The bundle
 * install --local copies to DIR/traefikeectl.bundle (and links from the
 * default path) holds a certificate of --cert-ttl (24 h); each control node
 * reissues its own DATA-DIR/traefikeectl.bundle at two thirds of that. When
 * the bundle in use is one a cluster.json beside it names, the freshest
 * control node's bundle of the same CA replaces it (docs/security.md,
 * "Local cluster").
 */
#ifndef TCTL_BUNDLE_H
#define TCTL_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include "common/pki/pki.h"

enum tctl_refresh {
    TCTL_REFRESH_NOT_LOCAL = 0, /* no cluster.json names this bundle */
    TCTL_REFRESH_NONE = 1,      /* local, but no control node has a later one */
    TCTL_REFRESH_DONE = 2,      /* replaced by a later one */
};

/* Whether a certificate valid from <not_before> to <not_after> should be
 * replaced at <now>: in its last third, or expired. */
int tctl_bundle_aging(int64_t not_before, int64_t not_after, int64_t now);

/* If <path> (the file it resolves to) is the "bundle" of the cluster.json
 * beside it, looks at the DATA-DIR/traefikeectl.bundle of every control
 * node it records (--data-dir in the argv), keeps those of CA <ca> (PEM),
 * and writes the one ending last over the bundle when it ends after
 * <not_after>. Returns an enum tctl_refresh, with the cluster's directory
 * in <dir> (when local) and the file copied in <src> (when DONE); or a
 * negative error code with the reason in <err>. */
int tctl_bundle_refresh(const char *path, const char *ca, int64_t not_after,
                        char *dir, char *src, size_t len, char *err,
                        size_t errlen);

#endif
