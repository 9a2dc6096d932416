/*
 * hc_grpc_fuzz.c -- fuzzes the reader of the HealthCheckResponse an
 * upstream sends to a gRPC health probe (dp_proxy__hc_grpc_status): any
 * bytes give a status or -1, within the input.
 */
#include <stdint.h>
#include <stdlib.h>

#include "dataplane/proxy/proxy_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int64_t st = dp_proxy__hc_grpc_status(data, size);

    if (st < -1 || st > INT32_MAX)
        abort();
    return 0;
}
