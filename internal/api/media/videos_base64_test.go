package media_test

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
)

// TestVideoImageBase64 checks the base64 forms of a first frame: padding,
// missing or in any amount, and line breaks are accepted; input that is
// nothing but padding is refused as invalid base64 (it used to decode to
// no bytes and be refused as "not a PNG").
func TestVideoImageBase64(t *testing.T) {
	e := newEnv(t, envOptions{})
	frame := base64.StdEncoding.EncodeToString(pngBytes(t))
	bare := strings.TrimRight(frame, "=")
	wrapped := bare[:40] + "\r\n" + bare[40:]
	for _, img := range []string{bare, bare + "===", "data:image/png;base64," + wrapped} {
		var res videoResponse
		if err := e.client.Post(context.Background(), "videos/generations", map[string]any{
			"model": "sora-2", "prompt": "p", "image": img,
		}, &res); err != nil {
			t.Errorf("%.30q...: %v", img, err)
		}
	}
	for _, img := range []string{"====", "data:image/png;base64,=="} {
		var res videoResponse
		err := e.client.Post(context.Background(), "videos/generations", map[string]any{
			"model": "sora-2", "prompt": "p", "image": img,
		}, &res)
		ae := apiError(t, err, 400)
		if ae.Param != "image" || !strings.HasPrefix(ae.Message, "image must be base64") {
			t.Errorf("%q: param %q message %q", img, ae.Param, ae.Message)
		}
	}
}
