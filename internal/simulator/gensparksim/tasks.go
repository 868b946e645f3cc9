package gensparksim

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"strings"
	"time"

	"github.com/sparkgw/spark/internal/simulator/simcore"
)

// Task kinds.
const (
	kindImage = "image"
	kindVideo = "video"
)

// task is one image or video generation job created by an ask.
type task struct {
	id       string
	kind     string
	seed     [32]byte      // derived from prompt and model: the media is deterministic
	delay    time.Duration // pause between status events
	duration int           // video length in seconds
}

// newTask creates and stores a task, evicting the oldest beyond maxTasks.
func (s *Server) newTask(kind, prompt, model string, delay time.Duration, duration int) *task {
	t := &task{
		id:       newID(),
		kind:     kind,
		seed:     sha256.Sum256([]byte(kind + "\x00" + model + "\x00" + prompt)),
		delay:    delay,
		duration: duration,
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tasks[t.id] = t
	s.order = append(s.order, t.id)
	if over := len(s.order) - maxTasks; over > 0 {
		for _, id := range s.order[:over] {
			delete(s.tasks, id)
		}
		s.order = append(s.order[:0:0], s.order[over:]...)
	}
	return t
}

func (s *Server) lookupTask(id string) *task {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tasks[id]
}

// durationSeconds reads a video duration (a JSON number; 5 when absent).
func durationSeconds(raw json.RawMessage) int {
	var f float64
	if json.Unmarshal(raw, &f) != nil || f <= 0 {
		return 5
	}
	return min(int(f), 600)
}

// handleTasksStatus serves POST /api/ig_tasks_status (images) and
// /api/vg_tasks_status (videos): the status stream of docs/genspark-upstream.md §1.6. It pushes
// two progress events, then TASKS_STATUS_COMPLETE with a final_status per
// requested id, then closes the connection.
func (s *Server) handleTasksStatus(kind string) http.HandlerFunc {
	urlsKey, ext := "image_urls", ".png"
	if kind == kindVideo {
		urlsKey, ext = "video_urls", ".mp4"
	}
	return func(w http.ResponseWriter, r *http.Request) {
		c, body, ok := s.begin(w, r, "genspark", maxRequestBody)
		if !ok {
			return
		}
		defer c.finish(simcore.OutcomeCompleted)
		if r.Method != http.MethodPost {
			c.methodNotAllowed(w, http.MethodPost)
			return
		}
		if !c.checkLogin(w) {
			return
		}
		var req *struct {
			TaskIDs []string `json:"task_ids"`
		}
		err := json.Unmarshal(body, &req)
		if err == nil && (req == nil || req.TaskIDs == nil) {
			err = errors.New("task_ids missing")
		}
		if err != nil {
			writePlain(w, http.StatusInternalServerError, bodyInternalServerError)
			c.reject("invalid body: " + err.Error())
			return
		}
		c.h.Set("kind", kind)
		c.h.Set("task_ids", req.TaskIDs)

		tasks := make([]*task, len(req.TaskIDs))
		delay := s.delay
		for i, id := range req.TaskIDs {
			if t := s.lookupTask(id); t != nil && t.kind == kind {
				tasks[i] = t
				delay = t.delay
			}
		}
		progress := func(status string, pct int) raw {
			var st []kv
			for i, id := range req.TaskIDs {
				if tasks[i] != nil {
					st = append(st, kv{id, []kv{{"status", status}, {"progress", pct}}})
				}
			}
			return obj(kv{"type", "TASKS_STATUS_UPDATE"}, kv{"task_status", st})
		}
		var final []kv
		failed := 0
		for i, id := range req.TaskIDs {
			if tasks[i] == nil {
				failed++
				final = append(final, kv{id, []kv{{"status", "FAILURE"}, {urlsKey, []string{}}}})
				continue
			}
			u := baseURL(r) + "/genspark-cdn/" + kind + "/" + id + ext
			final = append(final, kv{id, []kv{{"status", "SUCCESS"}, {urlsKey, []string{u}}}})
		}
		c.h.Set("failed", failed)
		steps := []step{
			{payload: progress("PENDING", 0)},
			{payload: progress("PROCESSING", 50), pause: true},
			{payload: obj(kv{"type", "TASKS_STATUS_COMPLETE"}, kv{"final_status", final}), pause: true},
		}
		s.play(w, r, c, steps, delay, 0)
	}
}

// handleMedia serves the bytes of a generated image (PNG) or video (MP4):
// /genspark-cdn/image/<task>.png and /genspark-cdn/video/<task>.mp4.
func (s *Server) handleMedia(kind string) http.HandlerFunc {
	ext, ctype := ".png", "image/png"
	if kind == kindVideo {
		ext, ctype = ".mp4", "video/mp4"
	}
	return func(w http.ResponseWriter, r *http.Request) {
		c, _, ok := s.begin(w, r, "genspark", maxRequestBody)
		if !ok {
			return
		}
		defer c.finish(simcore.OutcomeCompleted)
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			c.methodNotAllowed(w, "GET, HEAD")
			return
		}
		id, hasExt := strings.CutSuffix(r.PathValue("file"), ext)
		c.h.Set("task_id", id)
		t := s.lookupTask(id)
		if !hasExt || t == nil || t.kind != kind {
			writePlain(w, http.StatusNotFound, "The specified blob does not exist.")
			c.reject("unknown media")
			return
		}
		var data []byte
		if kind == kindImage {
			data = pngBytes(t.seed)
		} else {
			data = mp4Bytes(t.seed, t.duration)
		}
		w.Header().Set("Cache-Control", "public, max-age=31536000")
		writeRaw(w, http.StatusOK, ctype, string(data))
	}
}

// pngBytes renders a 64x64 solid-colour PNG whose colour comes from seed.
func pngBytes(seed [32]byte) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 64, 64))
	col := color.RGBA{seed[0], seed[1], seed[2], 255}
	for y := range 64 {
		for x := range 64 {
			img.SetRGBA(x, y, col)
		}
	}
	var b bytes.Buffer
	_ = png.Encode(&b, img)
	return b.Bytes()
}

// mp4Bytes builds a minimal ISO-BMFF (MP4) file: an `ftyp` box (brand isom),
// a `moov` box holding a version-0 `mvhd` with the duration, and a small
// `mdat` box whose payload comes from seed. It is structurally valid but has
// no tracks, which is enough for clients that only pass the bytes on.
func mp4Bytes(seed [32]byte, seconds int) []byte {
	var b bytes.Buffer
	box := func(typ string, payload []byte) []byte {
		out := binary.BigEndian.AppendUint32(nil, uint32(8+len(payload)))
		out = append(out, typ...)
		return append(out, payload...)
	}
	// ftyp: major brand, minor version, compatible brands.
	b.Write(box("ftyp", []byte("isom\x00\x00\x02\x00isomiso2mp41")))

	var mvhd []byte
	mvhd = append(mvhd, 0, 0, 0, 0)                                  // version 0, flags
	mvhd = binary.BigEndian.AppendUint32(mvhd, 0)                    // creation time
	mvhd = binary.BigEndian.AppendUint32(mvhd, 0)                    // modification time
	mvhd = binary.BigEndian.AppendUint32(mvhd, 1000)                 // timescale
	mvhd = binary.BigEndian.AppendUint32(mvhd, uint32(seconds)*1000) // duration
	mvhd = binary.BigEndian.AppendUint32(mvhd, 0x00010000)           // rate 1.0
	mvhd = binary.BigEndian.AppendUint16(mvhd, 0x0100)               // volume 1.0
	mvhd = append(mvhd, make([]byte, 10)...)                         // reserved
	for _, v := range []uint32{0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000} {
		mvhd = binary.BigEndian.AppendUint32(mvhd, v) // unity matrix
	}
	mvhd = append(mvhd, make([]byte, 24)...)      // pre_defined
	mvhd = binary.BigEndian.AppendUint32(mvhd, 1) // next track id
	b.Write(box("moov", box("mvhd", mvhd)))

	b.Write(box("mdat", seed[:]))
	return b.Bytes()
}
