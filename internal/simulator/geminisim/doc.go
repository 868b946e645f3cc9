// Package geminisim is a faithful simulator of the Gemini web app
// (gemini.google.com), the Google accounts cookie rotation endpoint
// (accounts.google.com/RotateCookies), the Gemini upload service
// (content-push.googleapis.com/upload) and the image hosts that serve
// generated images (lh3.googleusercontent.com, work.fife.usercontent.google.com).
//
// It is written from gemini-web-upstream.md and the captured fixtures only and
// never imports spark's Gemini adapter, so a misreading of the protocol in one
// is caught by the other. Every path is the real upstream's own, so pointing
// GEMINI_BASE_URL, GOOGLE_ACCOUNTS_URL and GEMINI_UPLOAD_URL at the one
// listener that mounts [Server.Register] is all a client needs.
//
// # Paths
//
//	GET  /app, /app/{chat}, /u/{n}/app, /u/{n}/app/{chat}   app page (WIZ_global_data)
//	POST [/u/{n}]/_/BardChatUi/data/assistant.lamda.BardFrontendService/StreamGenerate
//	POST [/u/{n}]/_/BardChatUi/data/batchexecute?rpcids=...
//	GET  /sorry/index                                        IP-block page (HTTP 429)
//	POST /RotateCookies, GET /RotateCookiesPage              Google accounts rotation
//	POST|PUT /upload, /upload/                               upload (multipart or resumable)
//	GET  /gg-dl/{token}, /gg/{token}, /rd-gg-dl/{token}      generated image bytes
//
// # Accounts (cookie `__Secure-1PSID`)
//
//   - missing, or beginning with `expired`: logged out. The app page is the
//     anonymous page (no SNlM0e), RotateCookies answers 401, StreamGenerate
//     without `at` is served anonymously (Flash-Lite only, attachments fail
//     with 1100) and with an `at` fails with HTTP 400.
//   - beginning with `limited`: signed in, every StreamGenerate fails with
//     BardErrorInfo 1037 (usage limit).
//   - beginning with `norotate`: RotateCookies answers 200 without a new
//     `__Secure-1PSIDTS` (the known failure mode).
//   - beginning with `plus`: a paid ("Plus", capacity 4) account; its model
//     list uses the paid hex ids.
//   - beginning with `basic`: a free account whose model list has no Pro
//     model; a request for Pro is served by its first (Flash-Lite) model.
//   - anything else: a free signed-in account.
//
// `__Secure-1PSIDTS` is required: without it, or when it begins with `stale`,
// the session is treated as logged out. Every successful RotateCookies mints
// the next value of a per-account sequence (`sidts-<n>-<tag>`); a minted value
// stays valid for one more rotation (the current and the previous value are
// accepted), and the value the account started with stops working after the
// second rotation. A value minted for another account is never accepted.
//
// # Directives (read from the last user turn only)
//
// The prompt is one flattened string. When it has lines beginning `User:`,
// `Assistant:` or `System:`, the last user turn is the text after the last
// line beginning `User:` up to the next role line; otherwise it is the whole
// prompt. Text attachments are prepended to the prompt for this purpose. The
// answer always contains that turn verbatim, except for tool calls.
//
//	sim:think            thoughts (candidate [37][0][0]) grow first, then the text
//	sim:long N           N text growth frames (capped at 5000 for this upstream)
//	sim:slow MS          pause between frames (otherwise Options.DeltaDelay)
//	sim:image            a generated image at candidate [12][7][0] with a fetchable URL
//	sim:video            answered as text: video generation is not supported here
//	sim:tool NAME {json} the text is <tool_call>{"name": "NAME", "arguments": {json}}</tool_call>
//	sim:ratelimit        BardErrorInfo 1037 (usage limit exceeded)
//	sim:quota            BardErrorInfo 1037 (usage limit exceeded)
//	sim:unavailable      BardErrorInfo 1013 (transient)
//	sim:cloudflare       IP block: HTTP 302 to /sorry/index, which answers 429
//	sim:drop             the connection is aborted in the middle of the stream
//	sim:downgrade        a different model than requested is served ([39]/[42])
//
// Additions of this simulator:
//
//	sim:code N           N with 4 digits: a BardErrorInfo error entry with code N
//	                     (1013, 1037, 1050, 1052, 1060, 1096, 1100, 1155, ...);
//	                     N with 3 digits: that HTTP status (302/303 go to /sorry,
//	                     400 is the "er" body, anything else a Google error page)
//	sim:search           the first frame carries the Google Search tool status
//
// Without a directive the answer streams 5 growing text frames; snapshots are
// cumulative and deliberately not always prefix-monotonic (a trailing `\_`
// escape and an auto-closed code fence appear and are later rewritten).
//
// # StreamGenerate answers
//
// `)]}'`, a blank line, then (with rt=c) frames `LEN\n<json>\n` where LEN
// counts the UTF-16 code units of "\n"+json+"\n", ending with
// `["e",<entries>,null,null,<UTF-8 bytes of the body>]`; without rt=c one
// JSON array holds every entry. The frames are: one without candidates (ids
// at inner [1]; a sparse {"7": ...} tool status with sim:image, the Google
// Search status with sim:search), thought frames, N text frames (candidate
// [8] = [1]), one completion frame ([8] = [2], context token at inner [25],
// timestamp at [27], generated images), then a BardErrorInfo 1096 entry
// with the `di`/`af.httprm` trailers. Every content frame names the served
// model at inner [39] (hex), [42] (display name), [58] (mode).
//
// # Recorded facts
//
// StreamGenerate: model_header, model (hex from the header), model_family,
// capacity, header_mode, header_thinking, ext_headers, at_ok, signed_in,
// prompt, prompt_truncated, last_user_turn, files, cid, rid, rcid,
// context_token, turn_index, gem, temporary, request_uuid(_match),
// served_model, served_model_name, new_cid, new_rid, new_rcid, error_code,
// error_status, image_url. batchexecute: rpcids, rpcs, at_ok, deleted_cid.
// RotateCookies: flow, cookie_names, extra_cookies, new_psidts. Upload:
// protocol, push_id, tenant, file_name, mime, size, upload_ref.
package geminisim
