package bench

import (
	"archive/zip"
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"

	"github.com/vigilsoc/vigil/rules"
)

// Workloads returns the standard workloads: decoding alone (no rules), 100, 1,000 and 10,000 generated rules over
// nEvents generated ECS events, and, when otrfDir holds the OTRF recordings, 1,000 generated Windows rules over them.
func Workloads(nEvents int, otrfDir string) ([]Workload, error) {
	events := Events(nEvents, 1)
	ws := []Workload{{Name: "decode", Events: events}}
	for _, n := range []int{100, 1000, 10000} {
		ws = append(ws, Workload{Name: fmt.Sprintf("rules-%d", n), Rules: Rules(n, 1), Events: events})
	}
	otrf, err := OTRFEvents(otrfDir)
	if err != nil {
		return nil, err
	}
	if len(otrf) > 0 {
		ws = append(ws, Workload{Name: "otrf-1000", Rules: WindowsRules(1000, 1), Events: otrf})
	}
	return ws, nil
}

// OTRFEvents reads every event of the OTRF recordings (zip files holding NDJSON) in dir, in file order. A missing
// folder gives no events and no error.
func OTRFEvents(dir string) ([][]byte, error) {
	zips, err := filepath.Glob(filepath.Join(dir, "*.zip"))
	if err != nil || len(zips) == 0 {
		if _, statErr := os.Stat(dir); os.IsNotExist(statErr) {
			return nil, nil
		}
		return nil, err
	}
	sort.Strings(zips)
	var out [][]byte
	for _, z := range zips {
		zr, err := zip.OpenReader(z)
		if err != nil {
			return nil, fmt.Errorf("otrf %s: %w", z, err)
		}
		for _, f := range zr.File {
			rc, err := f.Open()
			if err != nil {
				zr.Close()
				return nil, fmt.Errorf("otrf %s: %w", z, err)
			}
			data, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				zr.Close()
				return nil, fmt.Errorf("otrf %s: %w", z, err)
			}
			sc := bufio.NewScanner(bytes.NewReader(data))
			sc.Buffer(make([]byte, 1<<20), 1<<22)
			for sc.Scan() {
				if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 && line[0] == '{' {
					out = append(out, bytes.Clone(line))
				}
			}
		}
		zr.Close()
	}
	return out, nil
}

// Vocabulary of flat Windows events (Sysmon and Security channels) as in the OTRF recordings.
var (
	winEventIDs = []int64{1, 3, 5, 7, 8, 10, 11, 12, 13, 17, 18, 22, 23, 4624, 4625, 4634, 4648, 4656, 4663, 4672,
		4688, 4689, 4698, 4703, 5140, 5145, 5156, 5158, 7045}
	winImages = []string{`\powershell.exe`, `\cmd.exe`, `\rundll32.exe`, `\regsvr32.exe`, `\mshta.exe`, `\wmic.exe`,
		`\certutil.exe`, `\bitsadmin.exe`, `\esentutl.exe`, `\installutil.exe`, `\schtasks.exe`, `\reg.exe`,
		`\lsass.exe`, `\svchost.exe`, `\wsmprovhost.exe`, `\msbuild.exe`, `\cscript.exe`, `\wscript.exe`}
	winFragments = []string{"-enc", "downloadstring", "iex", "comsvcs.dll", "minidump", "/transfer", "vbscript",
		"javascript", "sam", "system", "save", "/create", "/y", "-vss", "http://", "https://", "format:", ".xsl",
		"installutil", "/u", "bypass", "hidden", "-nop", "invoke-", "reg save", "hklm\\sam"}
	winChannels = []string{"Microsoft-Windows-Sysmon/Operational", "Security", "System", "Windows PowerShell"}
)

// WindowsRules generates n rules over flat Windows event fields (EventID, Channel, Image, CommandLine,
// ParentImage, TargetImage), seeded, in the style of Sigma's process-creation and access rules.
func WindowsRules(n int, seed uint64) []*rules.Rule {
	r := rand.New(rand.NewPCG(seed, 0x0f7f))
	out := make([]*rules.Rule, n)
	for i := range out {
		var cond string
		switch k := r.IntN(100); {
		case k < 35:
			cond = fmt.Sprintf(`EventID == 1 && Image.lowerAscii().endsWith(%s) && CommandLine.lowerAscii().contains(%s)`,
				quote(pick(r, winImages)), quote(pick(r, winFragments)))
		case k < 50:
			cond = fmt.Sprintf(`EventID in [%d, %d] && Channel == %s && Image.lowerAscii().endsWith(%s)`,
				pick(r, winEventIDs), pick(r, winEventIDs), quote(pick(r, winChannels)), quote(pick(r, winImages)))
		case k < 65:
			cond = fmt.Sprintf(`EventID == 10 && TargetImage.lowerAscii().endsWith(%s) && GrantedAccess in ["0x1010", "0x1410", "0x1fffff"]`,
				quote(pick(r, winImages)))
		case k < 80:
			cond = fmt.Sprintf(`EventID == 4688 && NewProcessName.lowerAscii().endsWith(%s)`, quote(pick(r, winImages)))
		case k < 92:
			cond = fmt.Sprintf(`ParentImage.lowerAscii().endsWith(%s) && Image.lowerAscii().endsWith(%s)`,
				quote(pick(r, winImages)), quote(pick(r, winImages)))
		default:
			cond = fmt.Sprintf(`CommandLine.lowerAscii().contains(%s) && CommandLine.lowerAscii().contains(%s)`,
				quote(pick(r, winFragments)), quote(pick(r, winFragments)))
		}
		id := fmt.Sprintf("bench.windows_%05d", i)
		out[i] = &rules.Rule{ID: id, Name: fmt.Sprintf("Generated Windows rule %d", i), Severity: pick(r, severities),
			Condition: cond, Source: rules.Position{File: "generated-windows", Line: i + 1},
			Text: []byte(fmt.Sprintf("id: %s\ncondition: %s\n", id, cond))}
	}
	return out
}
