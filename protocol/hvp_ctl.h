/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Control-socket protocol between the `hvpatch` CLI and a VM's patch service.
 *
 * A message is a fixed 16-byte header followed by `len` bytes of UTF-8 JSON
 * holding one object.  All header fields are little-endian on the wire.
 *
 *   offset size field
 *        0    4 magic    HVP_CTL_MAGIC
 *        4    2 version  HVP_CTL_VERSION
 *        6    2 type     HVP_CTL_T_*
 *        8    4 len      payload bytes, 1 .. HVP_CTL_MAX_PAYLOAD
 *       12    4 seq      echoed by the response
 *
 * Request payload:   {"cmd": STRING, "args": OBJECT}          ("args" optional)
 * Response payload:  {"ok": true,  "result": ANY}
 *                    {"ok": false, "error": {"class": STRING, "desc": STRING}}
 *
 * A receiver checks the header, caps `len` at HVP_CTL_MAX_PAYLOAD before it
 * allocates anything, and frees on every path.
 *
 * BUMP HVP_CTL_VERSION IF THE HEADER OR THE MEANING OF A MESSAGE TYPE CHANGES.
 */
#ifndef HVP_CTL_H
#define HVP_CTL_H

#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

#define HVP_CTL_MAGIC	    0x43505648u /* "HVPC" */
#define HVP_CTL_VERSION	    1
#define HVP_CTL_HDR_SIZE    16
#define HVP_CTL_MAX_PAYLOAD (1u << 20)

/* Message types.  Retired values stay here as comments, never reused. */
#define HVP_CTL_T_REQUEST  1
#define HVP_CTL_T_RESPONSE 2

/* Error classes carried in responses and printed by the CLI. */
#define HVP_ERR_USAGE	  "UsageError"	  /* bad arguments          */
#define HVP_ERR_NOT_FOUND "NotFound"	  /* no such VM/key/target  */
#define HVP_ERR_PROTOCOL  "ProtocolError" /* malformed message      */
#define HVP_ERR_REFUSED	  "Refused"	  /* valid but not allowed  */
#define HVP_ERR_GUEST	  "GuestError"	  /* the guest misbehaved   */
#define HVP_ERR_INTERNAL  "InternalError"

struct hvp_ctl_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	uint32_t len;
	uint32_t seq; /* 0 in refusals sent before a request was read */
};
_Static_assert(sizeof(struct hvp_ctl_hdr) == HVP_CTL_HDR_SIZE, "header is 16 bytes on the wire");

/* Encode into exactly HVP_CTL_HDR_SIZE bytes. */
void hvp_ctl_hdr_encode(uint8_t out[HVP_CTL_HDR_SIZE], const struct hvp_ctl_hdr *h);
/*
 * Decode and validate.  Returns 0, or -EPROTO (bad magic), -EPROTONOSUPPORT
 * (version), -EBADMSG (unknown type), -EMSGSIZE (len 0 or over the cap).
 * *h is filled in before the checks, so a server can echo the seq.
 */
int hvp_ctl_hdr_decode(const uint8_t in[HVP_CTL_HDR_SIZE], struct hvp_ctl_hdr *h);

/*
 * Parse a payload of exactly `len` bytes (not NUL-terminated) into a JSON
 * object.  Rejects non-objects, trailing garbage and embedded NULs.
 * Returns 0 or -EBADMSG; *out is owned by the caller.
 */
int hvp_ctl_payload_parse(const char *buf, size_t len, json_object **out);

/*
 * Validate a request object.  On success *cmd points into req and *args is
 * the "args" object (borrowed; an empty object is created and attached if
 * absent).  On failure returns -EBADMSG and writes a reason into err.
 */
int hvp_ctl_request_check(json_object *req, const char **cmd, json_object **args, char *err,
			  size_t errlen);

/* Validate a response object, same conventions. */
int hvp_ctl_response_check(json_object *resp, char *err, size_t errlen);

/* Builders; each returns a new object owned by the caller. */
json_object *hvp_ctl_request_new(const char *cmd, json_object *args /* taken */);
json_object *hvp_ctl_ok_new(json_object *result /* taken, may be NULL */);
json_object *hvp_ctl_error_new(const char *cls, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Blocking I/O on a stream socket, with a deadline for the whole message
 * (timeout_ms < 0: none).  Both return 0 or -errno (-ETIMEDOUT, -ECONNRESET
 * on EOF mid-message, -EPIPE, the decode errors above).
 */
int hvp_ctl_send(int fd, uint16_t type, uint32_t seq, json_object *obj, int timeout_ms);
int hvp_ctl_recv(int fd, struct hvp_ctl_hdr *h, json_object **obj, int timeout_ms);

/*
 * Client: connect to a service socket, send {"cmd","args"}, wait for the
 * response.  On 0, *resp is the validated response object (ok or error).
 * Returns -errno on transport failure (-ENOENT/-ECONNREFUSED: no service).
 */
int hvp_ctl_call(const char *sock_path, const char *cmd, json_object *args /* taken */,
		 int timeout_ms, json_object **resp);

#endif /* HVP_CTL_H */
