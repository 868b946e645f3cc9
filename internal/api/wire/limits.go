package wire

// MaxModelBytes bounds the model name a client sends: names are echoed in
// answers, logged and may key stored bindings, and no real model id comes
// near it.
const MaxModelBytes = 256

// MaxFileNameBytes bounds the name of an uploaded file (a multipart file
// name), the common file-system limit; names go upstream with the file.
const MaxFileNameBytes = 255

// CheckLength returns a 400 about param, in the OpenAI wording
// (string_above_max_length), when value is longer than limit bytes; nil
// otherwise. The value itself is never echoed.
func CheckLength(param, value string, limit int) error {
	if len(value) <= limit {
		return nil
	}
	return invalid(param, "Invalid '%s': string too long. Expected a string with maximum length %d, but got a string with length %d instead.", param, limit, len(value))
}

// CheckModelName is CheckLength for a model name: at most MaxModelBytes.
func CheckModelName(param, name string) error {
	return CheckLength(param, name, MaxModelBytes)
}
