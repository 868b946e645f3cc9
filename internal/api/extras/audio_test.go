package extras_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/sparkgw/spark/internal/api/extras"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
)

// wav returns a silent 16 kHz mono 16-bit WAV file of the given seconds.
func wav(seconds float64) []byte {
	const rate, channels, bits = 16000, 1, 16
	data := int(seconds * rate * channels * bits / 8)
	var b bytes.Buffer
	w := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	w(uint32(36 + data))
	b.WriteString("WAVEfmt ")
	w(uint32(16))
	w(uint16(1))
	w(uint16(channels))
	w(uint32(rate))
	w(uint32(rate * channels * bits / 8))
	w(uint16(channels * bits / 8))
	w(uint16(bits))
	b.WriteString("data")
	w(uint32(data))
	b.Write(make([]byte, data))
	return b.Bytes()
}

// transcriber answers with a scripted transcript (with stray whitespace).
func transcriber(text string) *fakeChat {
	return &fakeChat{reply: func(*llm.Request, int) (string, error) { return "\n " + text + " \n", nil }}
}

// audioPart returns the file part of the recorded chat request.
func audioPart(t *testing.T, chat *fakeChat) (*llm.Media, string) {
	t.Helper()
	reqs := chat.requests()
	if len(reqs) == 0 {
		t.Fatal("no chat request")
	}
	req := reqs[len(reqs)-1]
	var media *llm.Media
	var instr string
	for _, m := range req.Messages {
		for _, p := range m.Parts {
			switch p.Type {
			case llm.PartFile:
				media = p.Media
			case llm.PartText:
				instr += p.Text
			}
		}
	}
	if media == nil {
		t.Fatal("the audio did not arrive as a file part")
	}
	return media, instr
}

func TestTranscriptionFormats(t *testing.T) {
	audio := wav(2)
	chat := transcriber("Hello world.")
	_, client := serve(t, extras.Options{Chat: chat, DefaultChatModel: "gemini-3-flash"})
	ctx := t.Context()
	params := func(format openai.AudioResponseFormat) openai.AudioTranscriptionNewParams {
		return openai.AudioTranscriptionNewParams{
			File:           openai.File(bytes.NewReader(audio), "speech.wav", "audio/wav"),
			Model:          openai.AudioModelWhisper1,
			ResponseFormat: format,
			Language:       openai.String("de"),
			Prompt:         openai.String("Names: Köln"),
			Temperature:    openai.Float(0.2),
		}
	}

	res, err := client.Audio.Transcriptions.New(ctx, params(openai.AudioResponseFormatJSON))
	if err != nil {
		t.Fatal(err)
	}
	if res.Text != "Hello world." {
		t.Errorf("json text %q", res.Text)
	}
	if tr := res.AsTranscription(); tr.Usage.Seconds != 2 || tr.Usage.Type != "duration" {
		t.Errorf("usage %+v", tr.Usage)
	}
	media, instr := audioPart(t, chat)
	if !bytes.Equal(media.Data, audio) || media.MIMEType != "audio/wav" || media.Name != "speech.wav" {
		t.Errorf("file part: %d bytes, type %q, name %q", len(media.Data), media.MIMEType, media.Name)
	}
	if !strings.Contains(instr, "Transcribe") || !strings.Contains(instr, "German") || !strings.Contains(instr, "Köln") {
		t.Errorf("instruction %q", instr)
	}
	req := chat.requests()[0]
	if req.Model != "gemini-3-flash" || req.Temperature == nil || *req.Temperature != 0.2 {
		t.Errorf("chat request model %q temperature %v", req.Model, req.Temperature)
	}

	for format, want := range map[openai.AudioResponseFormat]string{
		openai.AudioResponseFormatText: "Hello world.\n",
		openai.AudioResponseFormatSRT:  "1\n00:00:00,000 --> 00:00:02,000\nHello world.\n\n",
		openai.AudioResponseFormatVTT:  "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nHello world.\n\n",
	} {
		var got string
		var resp *http.Response
		if err := client.Post(ctx, "audio/transcriptions", params(format), &got, withResponse(&resp)); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if got != want {
			t.Errorf("%s: body %q, want %q", format, got, want)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("%s: content type %q", format, ct)
		}
	}

	res, err = client.Audio.Transcriptions.New(ctx, params(openai.AudioResponseFormatVerboseJSON))
	if err != nil {
		t.Fatal(err)
	}
	v := res.AsTranscriptionVerbose()
	if v.Text != "Hello world." || v.Language != "german" || v.Duration != 2 || len(v.Segments) != 1 {
		t.Fatalf("verbose %s", res.RawJSON())
	}
	if s := v.Segments[0]; s.Start != 0 || s.End != 2 || s.Text != "Hello world." || s.ID != 0 || s.Temperature != 0.2 {
		t.Errorf("segment %+v", s)
	}
	if !strings.Contains(res.RawJSON(), `"task":"transcribe"`) {
		t.Errorf("task missing: %s", res.RawJSON())
	}
}

// withResponse captures the raw response.
func withResponse(dst **http.Response) option.RequestOption { return option.WithResponseInto(dst) }

func TestTranscriptionNonWAV(t *testing.T) {
	chat := transcriber("one two three four five")
	_, client := serve(t, extras.Options{Chat: chat, DefaultChatModel: "m"})
	mp3 := append([]byte("ID3\x04\x00\x00\x00\x00\x00\x00"), bytes.Repeat([]byte{0xff, 0xfb, 0x90, 0x00}, 100)...)
	var got string
	err := client.Post(t.Context(), "audio/transcriptions", openai.AudioTranscriptionNewParams{
		// No usable content type: the extension decides.
		File: openai.File(bytes.NewReader(mp3), "memo.mp3", "application/octet-stream"), Model: openai.AudioModelWhisper1,
		ResponseFormat: openai.AudioResponseFormatSRT,
	}, &got)
	if err != nil {
		t.Fatal(err)
	}
	// Unknown duration: estimated from the words (5 words at 2.5/s).
	if got != "1\n00:00:00,000 --> 00:00:02,000\none two three four five\n\n" {
		t.Errorf("srt %q", got)
	}
	media, _ := audioPart(t, chat)
	if media.MIMEType != "audio/mpeg" {
		t.Errorf("type %q", media.MIMEType)
	}

	// Sniffed from the bytes when neither type nor extension helps.
	res, err := client.Audio.Transcriptions.New(t.Context(), openai.AudioTranscriptionNewParams{
		File: openai.File(bytes.NewReader([]byte("OggS\x00\x02rest")), "blob", "application/octet-stream"), Model: openai.AudioModelWhisper1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if media, _ := audioPart(t, chat); media.MIMEType != "audio/ogg" || res.Text == "" {
		t.Errorf("type %q", media.MIMEType)
	}

	_, err = client.Audio.Transcriptions.New(t.Context(), openai.AudioTranscriptionNewParams{
		File: openai.File(strings.NewReader("just some notes"), "notes.txt", "text/plain"), Model: openai.AudioModelWhisper1,
	})
	apiErr(t, err, 400, "Invalid file format")
}

func TestTranslation(t *testing.T) {
	chat := transcriber("Good morning, everyone.")
	_, client := serve(t, extras.Options{Chat: chat, DefaultChatModel: "m"})
	audio := wav(1.5)
	tr, err := client.Audio.Translations.New(t.Context(), openai.AudioTranslationNewParams{
		File: openai.File(bytes.NewReader(audio), "rede.wav", "audio/wav"), Model: openai.AudioModelWhisper1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Text != "Good morning, everyone." {
		t.Errorf("text %q", tr.Text)
	}
	media, instr := audioPart(t, chat)
	if !bytes.Equal(media.Data, audio) || !strings.Contains(instr, "into English") {
		t.Errorf("file %d bytes, instruction %q", len(media.Data), instr)
	}

	var v openai.TranscriptionVerbose
	var resp *http.Response
	if err := client.Post(t.Context(), "audio/translations", openai.AudioTranslationNewParams{
		File: openai.File(bytes.NewReader(audio), "rede.wav", "audio/wav"), Model: openai.AudioModelWhisper1,
		ResponseFormat: openai.AudioTranslationNewParamsResponseFormatVerboseJSON,
	}, &v, withResponse(&resp)); err != nil {
		t.Fatal(err)
	}
	if v.Language != "english" || v.Duration != 1.5 || !strings.Contains(v.RawJSON(), `"task":"translate"`) {
		t.Errorf("verbose translation %s", v.RawJSON())
	}
	var vtt string
	if err := client.Post(t.Context(), "audio/translations", openai.AudioTranslationNewParams{
		File: openai.File(bytes.NewReader(audio), "rede.wav", "audio/wav"), Model: openai.AudioModelWhisper1,
		ResponseFormat: openai.AudioTranslationNewParamsResponseFormatVTT,
	}, &vtt); err != nil {
		t.Fatal(err)
	}
	if vtt != "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nGood morning, everyone.\n\n" {
		t.Errorf("vtt %q", vtt)
	}
}

func TestTranscriptionStream(t *testing.T) {
	chat := transcriber("Streaming works fine.")
	_, client := serve(t, extras.Options{Chat: chat, DefaultChatModel: "m"})
	st := client.Audio.Transcriptions.NewStreaming(t.Context(), openai.AudioTranscriptionNewParams{
		File: openai.File(bytes.NewReader(wav(1)), "a.wav", "audio/wav"), Model: openai.AudioModelGPT4oMiniTranscribe,
	})
	var deltas strings.Builder
	var done string
	for st.Next() {
		ev := st.Current()
		switch ev.Type {
		case "transcript.text.delta":
			deltas.WriteString(ev.Delta)
		case "transcript.text.done":
			done = ev.Text
		}
	}
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}
	if done != "Streaming works fine." || strings.TrimSpace(deltas.String()) != done {
		t.Errorf("deltas %q done %q", deltas.String(), done)
	}
}

func TestAudioErrors(t *testing.T) {
	ctx := t.Context()
	rejecting := &fakeChat{reply: func(*llm.Request, int) (string, error) {
		return "", &gw.Error{Code: gw.CodeUpstreamRejected, Message: "the upstream does not accept audio files"}
	}}
	url, client := serve(t, extras.Options{Chat: rejecting, DefaultChatModel: "m"})
	_, err := client.Audio.Transcriptions.New(ctx, openai.AudioTranscriptionNewParams{
		File: openai.File(bytes.NewReader(wav(1)), "a.wav", "audio/wav"), Model: openai.AudioModelWhisper1,
	})
	apiErr(t, err, 502, "does not accept audio")

	// Default 25 MB limit.
	big := append(wav(0), make([]byte, 26<<20)...)
	_, err = client.Audio.Transcriptions.New(ctx, openai.AudioTranscriptionNewParams{
		File: openai.File(bytes.NewReader(big), "big.wav", "audio/wav"), Model: openai.AudioModelWhisper1,
	})
	apiErr(t, err, 413, "25 MB")
	if n := len(rejecting.requests()); n != 1 {
		t.Errorf("%d chat calls", n)
	}

	_, err = client.Audio.Transcriptions.New(ctx, openai.AudioTranscriptionNewParams{
		File: openai.File(bytes.NewReader(wav(1)), "a.wav", "audio/wav"), Model: openai.AudioModelWhisper1,
		ResponseFormat: openai.AudioResponseFormatDiarizedJSON,
	})
	apiErr(t, err, 400, "response_format")

	// Not multipart, and no file.
	resp, err := http.Post(url+"/v1/audio/transcriptions", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("JSON body: %d", resp.StatusCode)
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("model", "whisper-1")
	_ = mw.Close()
	resp, err = http.Post(url+"/v1/audio/transcriptions", mw.FormDataContentType(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(b), "'file'") {
		t.Errorf("no file: %d %s", resp.StatusCode, b)
	}

	_, small := serve(t, extras.Options{Chat: rejecting, DefaultChatModel: "m", MaxUploadBytes: 1 << 20})
	_, err = small.Audio.Translations.New(ctx, openai.AudioTranslationNewParams{
		File: openai.File(bytes.NewReader(wav(40)), "a.wav", "audio/wav"), Model: openai.AudioModelWhisper1,
	})
	apiErr(t, err, 413, "1 MB")
}

func TestSpeechNotImplemented(t *testing.T) {
	_, client := serve(t, extras.Options{Chat: transcriber("x"), DefaultChatModel: "m"})
	_, err := client.Audio.Speech.New(t.Context(), openai.AudioSpeechNewParams{
		Model: openai.SpeechModelTTS1, Input: "Hello", Voice: openai.AudioSpeechNewParamsVoiceUnion{OfString: openai.String("alloy")},
	})
	e := apiErr(t, err, 501, "speech synthesis is not supported by the configured upstreams")
	if e.Type != "invalid_request_error" {
		t.Errorf("type %q", e.Type)
	}
}
