package geminisim

// model is one entry of an account's model list (otAQ7b [15]), built from
// the static table of docs/gemini-web-upstream.md §6.2.
type model struct {
	hex      string
	family   string // familyPro, familyFlash, familyLite
	label    string // short label, entry [1]
	name     string // versioned display name, entry [11] and inner [42]
	tagline  string // entry [2]
	desc     string // long description, entry [12]
	mode     int    // mode category (1 FAST, 3 PRO, 6 FLASH_LITE), entry [8], inner [58]
	aliases  []string
	isDef    bool
	order    int
	capacity int
}

// Model families.
const (
	familyPro   = "pro"
	familyFlash = "flash"
	familyLite  = "flash-lite"
)

// modelLists are the per-tier model lists, Flash-Lite first as in the app's
// picker.
var modelLists = map[string][]model{
	tierFree: {
		{hex: "cf41b0e0dd7d53e5", family: familyLite, label: "Flash-Lite", name: "3.1 Flash-Lite", tagline: "Lightning fast",
			desc: "Fastest answers for everyday tasks", mode: 6, aliases: []string{"5bf011840784117a"}, order: 1, capacity: 1},
		{hex: "fbb127bbb056c959", family: familyFlash, label: "Fast", name: "3.6 Flash", tagline: "Smart and fast",
			desc: "Fast all-round help", mode: 1, aliases: []string{"797f3d0293f288ad"}, isDef: true, order: 2, capacity: 1},
		{hex: "9d8ca3786ebdfbea", family: familyPro, label: "Pro", name: "3.1 Pro", tagline: "Most capable",
			desc: "Reasoning, math and code with 3.1 Pro", mode: 3, order: 3, capacity: 1},
	},
	tierPlus: {
		{hex: "8c46e95b1a07cecc", family: familyLite, label: "Flash-Lite", name: "3.1 Flash-Lite", tagline: "Lightning fast",
			desc: "Fastest answers for everyday tasks", mode: 6, aliases: []string{"e051ce1aa80aa576"}, order: 1, capacity: 4},
		{hex: "56fdd199312815e2", family: familyFlash, label: "Fast", name: "3.7 Flash", tagline: "Smart and fast",
			desc: "Fast all-round help", mode: 1, aliases: []string{"797f3d0293f288ad"}, isDef: true, order: 2, capacity: 4},
		{hex: "e6fa609c3fa255c0", family: familyPro, label: "Pro", name: "3.1 Pro", tagline: "Most capable",
			desc: "Reasoning, math and code with 3.1 Pro", mode: 3, aliases: []string{"9d8ca3786ebdfbea"}, order: 3, capacity: 4},
	},
}

func init() {
	// A basic account's list lacks the Pro model; asking it for Pro serves
	// its first model instead (a silent downgrade, as the real app does).
	for _, m := range modelLists[tierFree] {
		if m.family != familyPro {
			modelLists[tierBasic] = append(modelLists[tierBasic], m)
		}
	}
}

// familyOfHex maps every current hex id (any tier, including aliases) to its
// family. Ids are aliased across tiers, so any of them selects the family
// and the account's own entry of that family is served.
var familyOfHex = map[string]string{
	"cf41b0e0dd7d53e5": familyLite, "8c46e95b1a07cecc": familyLite,
	"5bf011840784117a": familyLite, "e051ce1aa80aa576": familyLite,
	"fbb127bbb056c959": familyFlash, "56fdd199312815e2": familyFlash, "797f3d0293f288ad": familyFlash,
	"9d8ca3786ebdfbea": familyPro, "e6fa609c3fa255c0": familyPro,
}

// deprecatedHex are the ≤2025 ids; requesting them gives 1052 ("request
// outdated").
var deprecatedHex = map[string]bool{
	"f299729663a2343f": true, "7ca48d02d802f20a": true, "2525e3954d185b3c": true,
	"4af6c7f5da75d65d": true, "35609594dbe934d8": true, "9ec249fc9ad08861": true,
	"71c2d248d3b102ff": true,
}

// modelFor returns the tier's entry of a family.
func modelFor(tier, family string) model {
	for _, m := range modelLists[tier] {
		if m.family == family {
			return m
		}
	}
	return modelLists[tier][0]
}

// downgradeOf is the family served instead of family under sim:downgrade.
func downgradeOf(family string) string {
	switch family {
	case familyPro:
		return familyFlash
	case familyFlash:
		return familyLite
	default:
		return familyFlash
	}
}

// modelEntry renders m as an otAQ7b model entry (docs/gemini-web-upstream.md §6.1 indices).
func modelEntry(m model) []any {
	e := make([]any, 20)
	e[0] = m.hex
	e[1] = m.label
	e[2] = m.tagline
	e[3] = []any{4, 5, 6, 8}
	aliases := make([]any, len(m.aliases))
	for i, a := range m.aliases {
		aliases[i] = a
	}
	e[6] = aliases
	e[7] = m.isDef
	e[8] = m.mode
	e[9] = m.capacity
	e[10] = "Gemini"
	e[11] = m.name
	e[12] = m.desc
	e[17] = m.order
	e[18] = []any{"https://www.gstatic.com/lamda/images/gemini_sparkle_4g_512_lt_f94943af3be039176192d.png", false}
	e[19] = "Gemini " + m.name
	return e
}
