package media_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/sparkgw/spark/internal/api/media"
	"github.com/sparkgw/spark/internal/gateway"
	"github.com/sparkgw/spark/internal/httpx"
	"github.com/sparkgw/spark/internal/imageproxy"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/pool"
	"github.com/sparkgw/spark/internal/provider"
	"github.com/sparkgw/spark/internal/provider/geminiweb"
	"github.com/sparkgw/spark/internal/provider/genspark"
	"github.com/sparkgw/spark/internal/secret"
	"github.com/sparkgw/spark/internal/simulator"
	"github.com/sparkgw/spark/internal/simulator/simcore"
	"github.com/sparkgw/spark/internal/store"
	"github.com/sparkgw/spark/internal/store/memstore"
	"github.com/sparkgw/spark/internal/testutil"
)

// env is the simulator, a gateway over the real Genspark and Gemini
// providers with one account each, and the media and proxy routes, all on
// loopback.
type env struct {
	t       *testing.T
	sim     *simulator.Simulator
	simURL  string
	url     string // gateway base URL, without /v1
	client  openai.Client
	clock   *testutil.Clock
	gemini  store.Account
	gsAcct  store.Account
	signer  *imageproxy.Signer
	fetcher *imageproxy.Fetcher
	// chats counts the exchanges the media handler started through the
	// gateway (each is at least one upstream call).
	chats atomic.Int64
}

// countingBackend is the gateway, counting Chat calls.
type countingBackend struct {
	*gateway.Service
	chats *atomic.Int64
}

func (b countingBackend) Chat(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	b.chats.Add(1)
	return b.Service.Chat(ctx, req)
}

type envOptions struct {
	media func(*media.Options)
	// productionHosts sends cookies only to the providers' own hosts (no
	// loopback extra host).
	productionHosts bool
	fetcher         func(*imageproxy.FetcherOptions)
}

func newEnv(t *testing.T, eo envOptions) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, clock: testutil.NewClock(time.Now())}
	e.sim = simulator.New(simulator.Options{})
	simSrv := httptest.NewServer(e.sim)
	t.Cleanup(simSrv.Close)
	e.simURL = simSrv.URL

	key := bytes.Repeat([]byte{7}, secret.KeySize)
	sealer, err := secret.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	db := memstore.New(sealer)
	e.gsAcct, err = db.CreateAccount(ctx, store.Account{Provider: genspark.Name, Label: "gs", Cookie: "session_id=alpha-account"})
	if err != nil {
		t.Fatal(err)
	}
	e.gemini, err = db.CreateAccount(ctx, store.Account{Provider: geminiweb.Name, Label: "gm",
		Cookie: "__Secure-1PSID=ivan; __Secure-1PSIDTS=sidts-imported-ivan; __Host-1PLSID=host-only"})
	if err != nil {
		t.Fatal(err)
	}
	pl, err := pool.New(ctx, pool.Options{Store: db})
	if err != nil {
		t.Fatal(err)
	}
	clients, err := httpx.NewClients("")
	if err != nil {
		t.Fatal(err)
	}
	gs, err := genspark.New(genspark.Config{BaseURL: simSrv.URL, Clients: clients})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gs.Wait)
	gm, err := geminiweb.New(geminiweb.Config{BaseURL: simSrv.URL, UploadURL: simSrv.URL, AccountsURL: simSrv.URL, Clients: clients})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gm.Close() })
	svc := gateway.New(gateway.Options{Registry: provider.NewRegistry(gs, gm), Pool: pl})

	e.signer, err = imageproxy.NewSigner(imageproxy.KeyFromSealer(sealer), imageproxy.SignerOptions{Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	fo := imageproxy.FetcherOptions{Accounts: imageproxy.StoreAccounts(db), Clients: clients,
		Upstreams: map[string]imageproxy.Upstream{genspark.Name: genspark.Plugin().Images, geminiweb.Name: geminiweb.Plugin().Images}}
	if !eo.productionHosts {
		fo.CookieHosts = []string{"127.0.0.1"}
	}
	if eo.fetcher != nil {
		eo.fetcher(&fo)
	}
	e.fetcher, err = imageproxy.NewFetcher(fo)
	if err != nil {
		t.Fatal(err)
	}
	mo := media.Options{Signer: e.signer, Fetcher: e.fetcher, ImageChatProviders: []string{geminiweb.Name}}
	if eo.media != nil {
		eo.media(&mo)
	}
	h, err := media.New(countingBackend{svc, &e.chats}, mo)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	imageproxy.NewHandler(e.signer, e.fetcher, imageproxy.HandlerOptions{}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e.url = srv.URL
	e.client = openai.NewClient(
		option.WithBaseURL(srv.URL+"/v1/"),
		option.WithAPIKey("sk-test"),
		option.WithMaxRetries(0),
	)
	return e
}

// entries returns the simulator's log entries for path (exact, or prefix
// when path ends with "/").
func (e *env) entries(path string) []simcore.Entry {
	var out []simcore.Entry
	for _, en := range e.sim.Requests.Entries() {
		if en.Path == path || (strings.HasSuffix(path, "/") && strings.HasPrefix(en.Path, path)) {
			out = append(out, en)
		}
	}
	return out
}

// asks returns the Genspark asks.
func (e *env) asks() []simcore.Entry { return e.entries("/api/copilot/ask") }

const streamGenerate = "/_/BardChatUi/data/assistant.lamda.BardFrontendService/StreamGenerate"

// get fetches a URL with a plain client (what a browser or SDK user does
// with an image URL).
func (e *env) get(u string) (*http.Response, []byte) {
	e.t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp, body
}

// apiError asserts err is an OpenAI API error with status.
func apiError(t *testing.T, err error, status int) *openai.Error {
	t.Helper()
	var ae *openai.Error
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T) is not an API error; want HTTP %d", err, err, status)
	}
	if ae.StatusCode != status {
		t.Fatalf("status %d (%s), want %d", ae.StatusCode, ae.Message, status)
	}
	return ae
}

// decodePNG asserts data is a PNG and returns it.
func decodePNG(t *testing.T, data []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("not a PNG (%d bytes, starts %q): %v", len(data), data[:min(len(data), 8)], err)
	}
	return img
}

// pngBytes is a small valid PNG.
func pngBytes(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	for i := range 4 {
		img.Set(i, i, color.RGBA{255, 0, 0, 255})
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// proxyQuery checks u is a proxy URL of this gateway and returns its query.
func (e *env) proxyQuery(u string) url.Values {
	e.t.Helper()
	pu, err := url.Parse(u)
	if err != nil || !strings.HasPrefix(u, e.url+imageproxy.Path+"?") {
		e.t.Fatalf("url %q is not a proxy URL of %s", u, e.url)
	}
	return pu.Query()
}

// fact returns a recorded fact as a string.
func fact(en simcore.Entry, key string) any { return en.Facts[key] }
