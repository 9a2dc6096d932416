/*
 * config.h -- parse, validate, look up and print the configuration model
 * (types in config-t.h). YAML and JSON documents both go through libyaml
 * (JSON as YAML 1.1 flow style). Stateless functions; a model is immutable
 * once parsed and may be read from any thread.
 *
 * Errors fill the caller's buffer (CM_ERR_LEN bytes is enough) with
 * "PATH: line L, column C: what is wrong", e.g.
 *   http.routers.whoami.service: line 5, column 16: unknown service "whoam"
 *
 * Names: a reference "NAME@file" means NAME (this document is the file
 * provider); any other "@provider" suffix is rejected, except the built-in
 * service "api@internal" (CM_CONFIG_API_INTERNAL: the dashboard and REST API
 * of the control nodes), allowed only as a router's service and kept as
 * written. Definitions may not contain '@', so it can never be defined.
 */
#ifndef CM_CONFIG_H
#define CM_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "common/config/config-t.h"
#include "common/err/err.h"

/* The built-in service a router may name (see above). */
#define CM_CONFIG_API_INTERNAL "api@internal"

/* Parses and validates the document <buf> of <len> bytes (YAML or JSON).
 * Returns new; free with cm_config_free(). On error returns NULL and fills
 * <err> (of <errlen> bytes, may be NULL). An empty document is an empty
 * configuration. */
struct cm_config *cm_config_parse(const char *buf, size_t len, char *err,
                                  size_t errlen) CM_MUST_CHECK;

/* Reads the file <path> (borrowed) and parses it like cm_config_parse().
 * Returns new; free with cm_config_free(). */
struct cm_config *cm_config_load_file(const char *path, char *err,
                                      size_t errlen) CM_MUST_CHECK;

/* Frees <cfg> and everything it holds; NULL is a no-op. */
void cm_config_free(struct cm_config *cfg);

/* Checks references (router -> service, middlewares, entry points; chain ->
 * middlewares; weighted, mirroring, failover -> services), cycles, URLs,
 * addresses, ranges and required fields, and fills the derived fields
 * (entry point host/port, server scheme/host/port/path). Already called by
 * cm_config_parse(). Returns 0 or GW_EINVAL (message in <err>), GW_ENOMEM. */
int cm_config_validate(struct cm_config *cfg, char *err, size_t errlen);

/* Look-ups by name ("NAME@file" is NAME). Return borrowed pointers (valid
 * until cm_config_free(cfg)) or NULL. Constant time on a model from
 * cm_config_parse() (a hash index built after validation); linear in the
 * number of items on a model built by hand. */
const struct cm_config_router *
cm_config_find_router(const struct cm_config *cfg, const char *name);
const struct cm_config_service *
cm_config_find_service(const struct cm_config *cfg, const char *name);
const struct cm_config_middleware *
cm_config_find_middleware(const struct cm_config *cfg, const char *name);
const struct cm_config_entrypoint *
cm_config_find_entrypoint(const struct cm_config *cfg, const char *name);

/* Writes the model as normalized JSON (Traefik's camelCase keys, defaults
 * filled in, durations as "1m30s"/"100ms", empty lists and absent optional
 * objects left out) to <*out>: returns new, free with free(). Returns 0 or
 * GW_ENOMEM. Parsing that JSON gives the same model. */
int cm_config_to_json(const struct cm_config *cfg, char **out) CM_MUST_CHECK;

/* The same model as a jansson value, without printing and parsing it back
 * (comparing two models, e.g.). Returns new (json_decref() it), or NULL
 * when out of memory. */
struct json_t;
struct json_t *cm_config_to_jansson(const struct cm_config *cfg);

/* Parses a Traefik duration: "2s", "100ms", "1m30s", "1.5h", "250us", or a
 * bare integer meaning seconds. Stores milliseconds (sub-millisecond parts
 * truncated) in <*ms>. Returns 0 or GW_EINVAL (negative, empty, unknown
 * unit, overflow). */
int cm_config_parse_duration(const char *s, int64_t *ms);

/* Formats <ms> as "1h2m3s" (whole seconds) or "1500ms" into <buf> of <len>
 * bytes; cm_config_parse_duration() reads it back. Returns <buf>. */
char *cm_config_format_duration(int64_t ms, char *buf, size_t len);

/* Short names of the kinds, as the document's keys ("loadBalancer",
 * "stripPrefix", ...); "" for NONE or an unknown value. */
const char *cm_config_service_kind_str(enum cm_config_service_kind kind);
const char *cm_config_middleware_kind_str(enum cm_config_middleware_kind kind);

#endif
