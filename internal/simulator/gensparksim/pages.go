package gensparksim

// Bodies of the upstream's failure signals (docs/genspark-upstream.md §3.1). Where a real capture
// exists in internal/provider/genspark/testdata/fixtures the constant is byte-identical to it;
// the tests compare them with the fixture files.

// bodyRateLimit is the plain-text rate-limit answer
// (fixture error_rate_limit_cf1_body.txt, no line terminator).
const bodyRateLimit = "Rate limit exceeded cf1"

// bodyNotLogin is the compact JSON answered for a logged-out session
// (fixture error_not_login_body.txt, no line terminator).
const bodyNotLogin = `{"status":-5,"message":"not login","data":{}}`

// lineFreeQuota is the free-quota message_result line
// (fixture ask_line_message_result_free_quota_exceeded.txt; one line without
// terminator, sent on the wire followed by a blank line).
const lineFreeQuota = `data: {"id": "", "role": "assistant", "content": "You've reached your free usage limit today", "action": {"type": "ACTION_QUOTA_EXCEEDED", "query_string": null, "update_flow_data": null, "label": null, "user_s_input": null, "action_params": null}, "recommend_actions": null, "is_prompt": true, "render_template": null, "session_state": {"consume_usage_quota_exceeded": true}, "message_type": null, "type": "message_result"}`

// bodyServerOverloaded is the whole body of an image ask that Genspark
// refused with "Server overloaded" in May 2025
// (fixture ask_2025-05_image_server_overloaded.txt, verbatim, including its
// single trailing line break).
const bodyServerOverloaded = "data: {\"message_id\": \"d0938794-44e1-4256-aa40-3b8800857247\", \"field_name\": \"_updatetime\", \"field_value\": \"2025-05-05T14:33:48.992304\", \"type\": \"message_field\"}\n" +
	"\n" +
	"data: {\"id\": \"\", \"role\": \"assistant\", \"content\": \"Server overloaded, please try again later.\", \"action\": null, \"recommend_actions\": null, \"is_prompt\": false, \"render_template\": null, \"session_state\": null, \"message_type\": null, \"tool_calls\": null, \"tool_call_id\": null, \"thinking_blocks\": null, \"type\": \"message_result\"}\n"

// bodyInternalServerError is what the Python app server (Starlette's
// ServerErrorMiddleware) answers, with status 500, when a handler crashes on
// a body it cannot use (for example the literal `null` the reference proxy
// posts when its reCAPTCHA helper fails, docs/genspark-upstream.md §6). The reference proxy's
// detector compares a whole line/body with exactly this text (docs/genspark-upstream.md §3.1).
const bodyInternalServerError = "Internal Server Error"

// pageServiceUnavailable is Genspark's own "Service Unavailable" page, one
// line, as quoted in a comment next to IsServiceUnavailablePage in
// deanxv/genspark2api:common/utils.go (it meets all six markers of docs/genspark-upstream.md §3.1).
const pageServiceUnavailable = `<!doctype html><html><head><meta http-equiv="Content-Type" content="text/html; charset=UTF-8"><meta name="viewport" content="width=device-width,initial-scale=1,maximum-scale=1,user-scalable=no"><title>Genspark</title><link rel="icon" href="https://gensparkpublicblob-cdn-e6g4btgjavb5a7gh.z03.azurefd.net/user-upload-image/manual/favicon.ico"><style>body,html{margin:0;padding:0;font-family:Arial}.bb{width:100vw;height:100vh;position:absolute;overflow:hidden}.logo img{margin:20px 0 0 24px;height:24px}.iw{display:flex;flex-direction:column;height:100vh;width:100%}.s1{position:absolute;top:0;left:0;margin-top:-5%;margin-left:15%;width:289px;height:289px;border-radius:289px;opacity:.6;background:radial-gradient(55.64% 49.84%,#2c10d6 0,rgba(44,16,214,.36) 100%);filter:blur(120px)}.s2{position:absolute;top:0;left:0;margin-top:10%;margin-left:50%;width:204.845px;height:204.845px;transform:rotate(-131.346deg);flex-shrink:0;background:radial-gradient(55.64% 49.84%,#7fd1ff 0,rgba(44,16,214,.36) 100%);filter:blur(120px)}.s3{position:absolute;bottom:0;right:0;margin-bottom:10%;margin-right:10%;width:251px;height:251px;border-radius:289.093px;background:radial-gradient(88.27% 88.27% at 90.98% 61.04%,#ce7fff 0,#ffe4af 100%);filter:blur(120px)}.cc{display:flex;justify-content:center;align-items:center;height:100%;width:100%}.hh{align-items:center;display:flex;width:100vw}.dd{margin-top:-200px}.tt{color:#000;text-align:center;font-size:40px;font-style:normal;font-weight:700}@media (max-width:800px){.tt{font-size:30px}}</style></head><body><div class="bb"><div class="s1"></div><div class="s2"></div><div class="s3"></div></div><div class="iw"><div class="hh"><div class="logo"><img src="https://gensparkpublicblob-cdn-e6g4btgjavb5a7gh.z03.azurefd.net/user-upload-image/manual/genspark_logo.png" alt="logo"></div></div><div class="cc"><div class="dd"><div class="tt">Service Unavailable</div></div></div></div></body></html>`

// pageCloudflareChallenge is a Cloudflare managed-challenge ("Just a
// moment...") page as Cloudflare serves it in front of www.genspark.ai: a
// whole document on ONE line, starting `<!DOCTYPE html><html` and ending
// `</html>`, so that it matches the detector of docs/genspark-upstream.md §3.1
// (`^<!DOCTYPE html><html.*?><head>.*?</head><body.*?>.*?</body></html>$`
// plus the title, window._cf_chl_opt, challenge-platform and meta-refresh
// markers). No real capture exists in the fixtures; this one is written from
// the public shape of Cloudflare's challenge page.
const pageCloudflareChallenge = `<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title><meta http-equiv="Content-Type" content="text/html; charset=UTF-8"><meta http-equiv="X-UA-Compatible" content="IE=Edge"><meta name="robots" content="noindex,nofollow"><meta name="viewport" content="width=device-width,initial-scale=1"><style>*{box-sizing:border-box;margin:0;padding:0}html{line-height:1.15;-webkit-text-size-adjust:100%;color:#313131;font-family:system-ui,-apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans",sans-serif}body{display:flex;flex-direction:column;height:100vh;min-height:100vh}.main-content{margin:8rem auto;max-width:60rem;padding-left:1.5rem}.h2{font-size:1.5rem;font-weight:500;line-height:2.25rem}@media (width <= 720px){.main-content{margin-top:4rem}}</style><meta http-equiv="refresh" content="390"></head><body class="no-js"><div class="main-wrapper" role="main"><div class="main-content"><noscript><div class="h2"><span id="challenge-error-text">Enable JavaScript and cookies to continue</span></div></noscript></div></div><script>(function(){window._cf_chl_opt={cvId: '3',cZone: "www.genspark.ai",cType: 'managed',cRay: '8f2c6a1b9d3e4f50',cH: 'sim.challenge.hash',cUPMDTk: "\/api\/copilot\/ask?__cf_chl_tk=sim-challenge-token",cFPWv: 'b',cITimeS: '1746455628',cTplC: 0,cTplV: 5,cTplB: 'cf',cK: "",fa: "\/api\/copilot\/ask?__cf_chl_f_tk=sim-challenge-token",md: "sim",mdrd: "sim"};var cpo = document.createElement('script');cpo.src = '/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page/v1?ray=8f2c6a1b9d3e4f50';window._cf_chl_opt.cOgUHash = location.hash === '' && location.href.indexOf('#') !== -1 ? '#' : location.hash;window._cf_chl_opt.cOgUQuery = location.search === '' && location.href.slice(0, location.href.length - window._cf_chl_opt.cOgUHash.length).indexOf('?') !== -1 ? '?' : location.search;document.getElementsByTagName('head')[0].appendChild(cpo);}());</script></body></html>`
