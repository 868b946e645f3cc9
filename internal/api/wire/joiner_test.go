package wire_test

import (
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/llm"
)

func TestJoiner(t *testing.T) {
	png := &llm.Media{MIMEType: "image/png", Data: []byte{1, 2, 3}}
	url := &llm.Media{URL: "https://img.example/x.png", MIMEType: "image/png", Data: []byte{9}}
	tests := []struct {
		name   string
		pieces []any // string: a text delta; *llm.Media: an image
		want   []string
	}{
		{"ImageFirst", []any{url}, []string{"![image](https://img.example/x.png)"}},
		{"ImageThenText", []any{url, "Enjoy."},
			[]string{"![image](https://img.example/x.png)", "\n\nEnjoy."}},
		{"TextImageText", []any{"Here it is:", url, "Enjoy."},
			[]string{"Here it is:", "\n\n![image](https://img.example/x.png)", "\n\nEnjoy."}},
		{"AfterOneNewline", []any{"Here:\n", png},
			[]string{"Here:\n", "\n![image](data:image/png;base64,AQID)"}},
		{"AfterParagraph", []any{"Here:\n\n", png},
			[]string{"Here:\n\n", "![image](data:image/png;base64,AQID)"}},
		{"NewlinesInPieces", []any{"Here:", "\n", "\n", png},
			[]string{"Here:", "\n", "\n", "![image](data:image/png;base64,AQID)"}},
		{"TwoImages", []any{png, url},
			[]string{"![image](data:image/png;base64,AQID)", "\n\n![image](https://img.example/x.png)"}},
		{"TextStartingWithNewline", []any{png, "\nnext"},
			[]string{"![image](data:image/png;base64,AQID)", "\nnext"}},
		{"EmptyText", []any{png, "", "x"},
			[]string{"![image](data:image/png;base64,AQID)", "", "\n\nx"}},
	}
	for _, tt := range tests {
		var j wire.Joiner
		var got []string
		for _, p := range tt.pieces {
			switch p := p.(type) {
			case string:
				got = append(got, j.Text(p))
			case *llm.Media:
				got = append(got, j.Image(p))
			}
		}
		if strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
	}
}

func TestImageRef(t *testing.T) {
	tests := []struct {
		m    llm.Media
		want string
	}{
		{llm.Media{URL: "https://img.example/x.png", Data: []byte{1}}, "https://img.example/x.png"},
		{llm.Media{MIMEType: "image/jpeg", Data: []byte{1, 2, 3}}, "data:image/jpeg;base64,AQID"},
		{llm.Media{Data: []byte{1, 2, 3}}, "data:image/png;base64,AQID"},
	}
	for _, tt := range tests {
		if got := wire.ImageRef(&tt.m); got != tt.want {
			t.Errorf("ImageRef(%+v) = %q, want %q", tt.m, got, tt.want)
		}
	}
}
