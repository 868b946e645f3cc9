package wire

import (
	"mime/multipart"
	"unicode/utf8"
)

// MaxPartHeaderBytes bounds the header of one part of a multipart form
// (mime/multipart's own bound is 10 MiB). A browser's or an SDK's part
// header is a Content-Disposition and a Content-Type: well under 1 KiB.
const MaxPartHeaderBytes = 16 << 10

// maxParamBytes bounds a form field name reported as an error's param.
const maxParamBytes = 64

// CheckPart checks the n-th part (counting from 1) of a multipart form
// against the bounds every multipart front-end applies, before anything
// of its body is read: at most maxParts parts, a header of at most
// MaxPartHeaderBytes, a file name of at most MaxFileNameBytes. It returns
// nil or a 400 in the OpenAI wording (about the field, when its name is
// short enough to report).
func CheckPart(p *multipart.Part, n, maxParts int) error {
	if n > maxParts {
		return invalid("", "Too many parts in the multipart/form-data body: at most %d.", maxParts)
	}
	size := 0
	for k, vs := range p.Header {
		for _, v := range vs {
			size += len(k) + len(v) + len(": \r\n")
		}
	}
	if size > MaxPartHeaderBytes {
		return invalid("", "A part header of the multipart/form-data body is %d bytes long; at most %d are allowed.", size, MaxPartHeaderBytes)
	}
	param := p.FormName()
	if len(param) > maxParamBytes {
		param = ""
	}
	if name := p.FileName(); len(name) > MaxFileNameBytes {
		return invalid(param, "The file name of '%s' is %d bytes long; at most %d are allowed.", param, len(name), MaxFileNameBytes)
	}
	return nil
}

// CheckFormText returns a 400 about the field name (when short enough to
// report) when data, the value of a text field of a multipart form, is not
// UTF-8: the same rule as a JSON body's.
func CheckFormText(name string, data []byte) error {
	if utf8.Valid(data) {
		return nil
	}
	if len(name) > maxParamBytes {
		name = ""
	}
	return invalid(name, "The field '%s' of the multipart/form-data body is not valid UTF-8.", name)
}
