package geminisim

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"net/http"
	"strconv"
	"strings"

	"github.com/sparkgw/spark/internal/simulator/simcore"
)

const (
	imageOriginal = 256 // px, the "original" size of a generated image
	imageMin      = 16
)

// imageToken names a generated image: the owning account's tag, the answer
// and the image index. The URL needs that account's cookies.
func imageToken(tag, rcid string, idx int) string {
	return "sim" + tag + "-" + strings.TrimPrefix(rcid, "rc_") + "-" + strconv.Itoa(idx)
}

// handleImage serves generated images like the real hosts:
//
//	/gg-dl/<token>[=<opts>]     lh3.googleusercontent.com: 302 to /rd-gg-dl/... (cookies needed at each hop)
//	/rd-gg-dl/<token>[=<opts>]  work.fife.usercontent.google.com: the bytes
//	/gg/<token>[=<opts>]        older form: the bytes directly
//
// Options after `=`: `sN` (size, s0 = original), `-rj` (JPEG), `d-I` with
// ?alr=yes (the full-size flow: two text/plain hops with the next URL).
// Without a live session of the owning account, or with host-only cookies
// (`__Host-1PLSID`, `LSID`, `OSID`, ...), the answer is 403.
func (s *Server) handleImage(w http.ResponseWriter, r *http.Request) {
	h := s.rec.Start(r, "gemini", nil)
	hop := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")[0]
	tok, opts, _ := strings.Cut(r.PathValue("token"), "=")
	h.Set("image", tok)
	h.Set("image_opts", opts)
	h.Set("hop", hop)
	reject := func(status int, why string) {
		h.Set("error", why)
		googleErrorPage(w, status)
		s.finish(h, r, simcore.OutcomeRejected)
	}
	tag, idx, ok := parseImageToken(tok)
	if !ok {
		reject(http.StatusNotFound, "unknown image")
		return
	}
	if hasHostOnlyCookie(cookieNames(cookieHeader(r))) {
		reject(http.StatusForbidden, "host-only cookies sent")
		return
	}
	ss := s.sessionOf(r)
	if !ss.signedIn || ss.tag != tag {
		reject(http.StatusForbidden, "no session of the owning account")
		return
	}
	fullSize := strings.Contains(opts, "d-I") && r.URL.Query().Get("alr") == "yes"
	base := baseURL(r)
	switch {
	case hop == "gg-dl" && fullSize:
		textURL(w, base+"/rd-gg-dl/"+tok+"=d-I?alr=yes")
		s.finish(h, r, simcore.OutcomeCompleted)
		return
	case hop == "rd-gg-dl" && fullSize:
		textURL(w, base+"/rd-gg-dl/"+tok+"=s0")
		s.finish(h, r, simcore.OutcomeCompleted)
		return
	case hop == "gg-dl":
		next := base + "/rd-gg-dl/" + tok
		if opts != "" {
			next += "=" + opts
		}
		http.Redirect(w, r, next, http.StatusFound)
		s.finish(h, r, simcore.OutcomeCompleted)
		return
	}
	size := imageOriginal
	for o := range strings.SplitSeq(opts, "-") {
		if n, err := strconv.Atoi(strings.TrimPrefix(o, "s")); err == nil && strings.HasPrefix(o, "s") && n > 0 {
			size = max(imageMin, min(n, imageOriginal))
		}
	}
	img := renderImage(tok, idx, size)
	var buf bytes.Buffer
	ctype := "image/png"
	if strings.Contains(opts, "rj") {
		ctype = "image/jpeg"
		_ = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85})
	} else {
		_ = png.Encode(&buf, img)
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.Header().Set("Cache-Control", "private, max-age=86400")
	_, _ = w.Write(buf.Bytes())
	h.Set("content_type", ctype)
	h.Set("size", size)
	s.finish(h, r, simcore.OutcomeCompleted)
}

// textURL answers a text/plain hop of the full-size download flow.
func textURL(w http.ResponseWriter, u string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(u))
}

// parseImageToken splits "sim<tag>-<rcid hex>-<idx>".
func parseImageToken(tok string) (tag string, idx int, ok bool) {
	rest, found := strings.CutPrefix(tok, "sim")
	if !found {
		return "", 0, false
	}
	parts := strings.Split(rest, "-")
	if len(parts) != 3 || len(parts[0]) != 12 || parts[1] == "" {
		return "", 0, false
	}
	idx, err := strconv.Atoi(parts[2])
	if err != nil || idx < 0 {
		return "", 0, false
	}
	return parts[0], idx, true
}

// renderImage draws a deterministic gradient for tok.
func renderImage(tok string, idx, size int) image.Image {
	hsh := hashOf("image", tok, strconv.Itoa(idx))
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	for y := range size {
		for x := range size {
			img.Set(x, y, color.RGBA{
				R: hsh[0] + uint8(x*255/size),
				G: hsh[1] + uint8(y*255/size),
				B: hsh[2] + uint8((x+y)*127/size),
				A: 255,
			})
		}
	}
	return img
}
