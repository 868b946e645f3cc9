package geminisim

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sparkgw/spark/internal/simulator/simcore"
)

// Options configure a [Server].
type Options struct {
	// Recorder receives every request; nil creates a private log.
	Recorder *simcore.Recorder
	// DeltaDelay is the pause between streamed frames when a request gives
	// no sim:slow directive. Zero streams as fast as possible.
	DeltaDelay time.Duration
	// Logger receives one line per request; nil discards.
	Logger *slog.Logger
}

// Server simulates the Gemini web app, Google accounts cookie rotation, the
// Gemini upload service and the generated-image hosts. It is safe for
// concurrent use; its state (rotated cookies, conversations, uploads) lives in
// memory and is bounded.
type Server struct {
	rec   *simcore.Recorder
	delay time.Duration
	log   *slog.Logger
	seq   atomic.Uint64

	mu       sync.Mutex
	accounts map[string]*accountState // by __Secure-1PSID
	convs    map[string]*conversation // by cid
	convSeq  uint64

	uploads uploadStore
}

// New returns a Server configured by opts.
func New(opts Options) *Server {
	if opts.Recorder == nil {
		opts.Recorder = simcore.NewRecorder(0)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{
		rec:      opts.Recorder,
		delay:    opts.DeltaDelay,
		log:      opts.Logger,
		accounts: map[string]*accountState{},
		convs:    map[string]*conversation{},
		uploads:  uploadStore{files: map[string]*upFile{}, sessions: map[string]*upSession{}},
	}
}

const (
	bardPrefix     = "/_/BardChatUi/data/"
	streamGenPath  = bardPrefix + "assistant.lamda.BardFrontendService/StreamGenerate"
	batchExecPath  = bardPrefix + "batchexecute"
	maxFormBody    = 16 << 20 // StreamGenerate / batchexecute bodies
	maxSmallBody   = 64 << 10 // RotateCookies and friends
	maxAccounts    = 10000
	maxConvs       = 10000
	maxTurnsKept   = 50
	maxTurnTextLen = 64 << 10
	maxFactText    = 1 << 20 // recorded prompt text, like the recorder's body cap
)

// Register mounts every simulated path on mux.
func (s *Server) Register(mux *http.ServeMux) {
	for _, pre := range []string{"", "/u/{authuser}"} {
		mux.HandleFunc("GET "+pre+"/app", s.handleApp)
		mux.HandleFunc("GET "+pre+"/app/{chat}", s.handleApp)
		mux.HandleFunc("POST "+pre+streamGenPath, s.handleGenerate)
		mux.HandleFunc("POST "+pre+batchExecPath, s.handleBatch)
	}
	mux.HandleFunc("GET /sorry/index", s.handleSorry)
	mux.HandleFunc("POST /RotateCookies", s.handleRotate)
	mux.HandleFunc("GET /RotateCookiesPage", s.handleRotatePage)
	for _, p := range []string{"/upload", "/upload/"} {
		mux.HandleFunc("POST "+p, s.handleUpload)
		mux.HandleFunc("PUT "+p, s.handleUpload)
	}
	mux.HandleFunc("GET /gg-dl/{token}", s.handleImage)
	mux.HandleFunc("GET /gg/{token}", s.handleImage)
	mux.HandleFunc("GET /rd-gg-dl/{token}", s.handleImage)
}

// finish ends a recorded request and logs it.
func (s *Server) finish(h *simcore.Handle, r *http.Request, outcome string) {
	h.Finish(outcome)
	s.log.Info("geminisim", "method", r.Method, "path", r.URL.Path, "outcome", outcome)
}

var errBodyTooLarge = errors.New("request body too large")

// readBody reads at most limit bytes of the request body. On overflow it
// returns what it read and errBodyTooLarge.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if int64(len(b)) > limit {
		return b[:limit], errBodyTooLarge
	}
	return b, err
}

// bodyFailed answers a failed body read: 413 when it was too large, else
// the client went away while sending it.
func (s *Server) bodyFailed(w http.ResponseWriter, r *http.Request, h *simcore.Handle, err error) {
	h.Set("error", err.Error())
	if errors.Is(err, errBodyTooLarge) {
		googleErrorPage(w, http.StatusRequestEntityTooLarge)
		s.finish(h, r, simcore.OutcomeRejected)
		return
	}
	s.finish(h, r, simcore.OutcomeCancelled)
}

// cookieHeader joins every Cookie header of r.
func cookieHeader(r *http.Request) string {
	return strings.Join(r.Header.Values("Cookie"), "; ")
}

// cookieNames lists the cookie names of a Cookie header, in order.
func cookieNames(header string) []string {
	var names []string
	for part := range strings.SplitSeq(header, ";") {
		k, _, _ := strings.Cut(strings.TrimSpace(part), "=")
		if k != "" {
			names = append(names, k)
		}
	}
	return names
}

// baseURL is the scheme and host the client used to reach this listener.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// hashOf is a stable digest of the joined parts.
func hashOf(parts ...string) [32]byte {
	return sha256.Sum256([]byte(strings.Join(parts, "\x00")))
}

// hexOf returns n hex digits of hashOf(parts...).
func hexOf(n int, parts ...string) string {
	h := hashOf(parts...)
	return hex.EncodeToString(h[:])[:n]
}

// nextID returns a fresh identifier with the given prefix (c_, r_, rc_).
func (s *Server) nextID(prefix, salt string) string {
	n := s.seq.Add(1)
	return prefix + hexOf(16, prefix, salt, strconv.FormatUint(n, 10), strconv.FormatInt(time.Now().UnixNano(), 10))
}

// ---- accounts and sessions ----

// Account tiers.
const (
	tierFree  = "free"
	tierPlus  = "plus"
	tierBasic = "basic" // no Pro model in the account's list
)

// accountState is the rotation state of one __Secure-1PSID.
type accountState struct {
	gen    int            // rotations done
	minted map[string]int // minted __Secure-1PSIDTS → generation
	cc     int            // SIDCC refresh counter
}

// session is what the cookies of a request amount to.
type session struct {
	psid     string
	psidts   string
	hasPSID  bool
	state    simcore.AccountState
	signedIn bool   // a live account with a valid __Secure-1PSIDTS
	tier     string // tierFree or tierPlus
	tag      string // short stable account tag (image ownership)
}

// accountTag is a short stable tag of an account.
func accountTag(psid string) string { return hexOf(12, "acct", psid) }

// sessionOf classifies the cookies of r.
func (s *Server) sessionOf(r *http.Request) session {
	ch := cookieHeader(r)
	ss := session{
		psid:   simcore.CookieValue(ch, "__Secure-1PSID"),
		psidts: simcore.CookieValue(ch, "__Secure-1PSIDTS"),
		tier:   tierFree,
	}
	ss.hasPSID = ss.psid != ""
	if !ss.hasPSID {
		ss.state = simcore.AccountExpired
		return ss
	}
	ss.tag = accountTag(ss.psid)
	ss.state = simcore.StateOf(ss.psid)
	if strings.HasPrefix(ss.psid, "plus") {
		ss.tier = tierPlus
	}
	if strings.HasPrefix(ss.psid, "basic") {
		ss.tier = tierBasic
	}
	ss.signedIn = ss.state != simcore.AccountExpired && s.psidtsValid(ss.psid, ss.psidts)
	return ss
}

// psidtsValid reports whether ts is an acceptable __Secure-1PSIDTS for psid.
func (s *Server) psidtsValid(psid, ts string) bool {
	if ts == "" || strings.HasPrefix(ts, "stale") || strings.HasPrefix(ts, "expired") {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[psid]
	if strings.HasPrefix(ts, mintedPrefix) {
		if a == nil {
			return false
		}
		g, ok := a.minted[ts]
		return ok && g >= a.gen-1
	}
	return a == nil || a.gen <= 1
}

const mintedPrefix = "sidts-sim"

// rotate mints the next __Secure-1PSIDTS of psid.
func (s *Server) rotate(psid string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accountLocked(psid)
	a.gen++
	v := mintedPrefix + strconv.Itoa(a.gen) + "-" + accountTag(psid)
	a.minted[v] = a.gen
	for k, g := range a.minted {
		if g < a.gen-4 {
			delete(a.minted, k)
		}
	}
	return v
}

// accountLocked returns the state of psid, creating it. s.mu must be held.
func (s *Server) accountLocked(psid string) *accountState {
	a := s.accounts[psid]
	if a == nil {
		if len(s.accounts) >= maxAccounts {
			for k := range s.accounts { // evict one arbitrary account
				delete(s.accounts, k)
				break
			}
		}
		a = &accountState{minted: map[string]int{}}
		s.accounts[psid] = a
	}
	return a
}

// ---- page tokens (deterministic per account) ----

const (
	buildLabel = "boq_assistant-bard-web-server_20260716.08_p0"
	pushID     = "feeds/mcudyrk2a4khkz"
)

// snlm0e is the account's XSRF token, `<28 chars>:<epoch-ms>`.
func snlm0e(psid string) string {
	h := hashOf("SNlM0e", psid)
	tok := "A" + base64.RawURLEncoding.EncodeToString(h[:])[:27]
	ms := 1767225600000 + int64(binary.BigEndian.Uint64(h[8:16])%31536000000)
	return tok + ":" + strconv.FormatInt(ms, 10)
}

// sessionID is the FdrFJe value (a signed 64-bit number as text).
func sessionID(psid string) string {
	h := hashOf("FdrFJe", psid)
	return strconv.FormatInt(int64(binary.BigEndian.Uint64(h[:8])), 10)
}

// ---- Set-Cookie in Google's own shape ----

// cookieAttrs decides which Google cookie attributes a response may carry:
// Domain=.google.com only when the client reached a google.com host (a
// cookie jar would drop it on 127.0.0.1), Secure only over TLS or on
// google.com.
func cookieAttrs(r *http.Request) (domain, secure bool) {
	host := r.Host
	if h, _, ok := strings.Cut(host, ":"); ok {
		host = h
	}
	google := host == "google.com" || strings.HasSuffix(host, ".google.com")
	return google, google || r.TLS != nil
}

// googleExpires formats t the way Google's Set-Cookie does.
func googleExpires(t time.Time) string {
	return t.UTC().Format("Mon, 02-Jan-2006 15:04:05 GMT")
}

// setCookie adds one Set-Cookie header built from attrs, dropping the
// Domain/Secure attributes cookieAttrs does not allow.
func setCookie(w http.ResponseWriter, r *http.Request, name, value string, attrs ...string) {
	domain, secure := cookieAttrs(r)
	parts := []string{name + "=" + value}
	for _, a := range attrs {
		la := strings.ToLower(a)
		switch {
		case strings.HasPrefix(la, "domain=") && !domain:
			continue
		case la == "secure" && !secure:
			continue
		}
		parts = append(parts, a)
	}
	w.Header().Add("Set-Cookie", strings.Join(parts, "; "))
}

// refreshCC sets the SIDCC family of cookies, as Google does on almost
// every response of a signed-in session.
func (s *Server) refreshCC(w http.ResponseWriter, r *http.Request, ss session) {
	if !ss.hasPSID || ss.state == simcore.AccountExpired {
		return
	}
	s.mu.Lock()
	a := s.accountLocked(ss.psid)
	a.cc++
	n := a.cc
	s.mu.Unlock()
	exp := "expires=" + googleExpires(time.Now().AddDate(1, 0, 0))
	// Value lengths as in the rotatecookies_2025-10 fixture (74, 76, 77).
	v := func(kind string, size int) string {
		h1, h2 := hashOf(kind, ss.psid, strconv.Itoa(n)), hashOf(kind+"2", ss.psid, strconv.Itoa(n))
		return ("AKEyXz" + base64.RawURLEncoding.EncodeToString(append(h1[:], h2[:]...)))[:size]
	}
	setCookie(w, r, "SIDCC", v("SIDCC", 74), exp, "path=/", "domain=.google.com", "priority=high")
	setCookie(w, r, "__Secure-1PSIDCC", v("1PSIDCC", 76), exp, "path=/", "domain=.google.com", "Secure", "HttpOnly", "priority=high")
	setCookie(w, r, "__Secure-3PSIDCC", v("3PSIDCC", 77), exp, "path=/", "domain=.google.com", "Secure", "HttpOnly", "priority=high", "SameSite=none")
}

// sapisidHashOK checks an `Authorization: SAPISIDHASH <ts>_<sha1>` header
// against the SAPISID cookie and the Origin (present reports whether the
// header was sent at all).
func sapisidHashOK(r *http.Request) (ok, present bool) {
	v, found := strings.CutPrefix(r.Header.Get("Authorization"), "SAPISIDHASH ")
	if !found {
		return false, false
	}
	ts, sum, _ := strings.Cut(strings.TrimSpace(v), "_")
	origin := r.Header.Get("Origin")
	if origin == "" {
		origin = "https://gemini.google.com"
	}
	sapisid := simcore.CookieValue(cookieHeader(r), "SAPISID")
	want := sha1.Sum([]byte(ts + " " + sapisid + " " + origin))
	return sapisid != "" && strings.EqualFold(sum, hex.EncodeToString(want[:])), true
}
