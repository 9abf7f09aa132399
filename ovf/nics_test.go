package ovf_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/anyip/anyip/ovf"
)

// Where the guest sees a vmxnet3 NIC in each pinned PCI slot: the bus its
// .link file matches. (VMware's slot numbering: 160 → bus 0x03, 192 → 0x0b,
// 224 → 0x13, as the old appliance's .link files had it.)
var slotPath = map[string]string{"160": "pci-0000:03:00.0", "192": "pci-0000:0b:00.0", "224": "pci-0000:13:00.0"}

// Each network has one vmxnet3 NIC pinned to a PCI slot, the frontend's
// only in the frontend option, and the .link file that names the NIC by its
// role matches that slot's PCI path; the transport hands the environment
// over through guestinfo.
func TestNICsArePinnedAndNamed(t *testing.T) {
	_, env := reference(t)
	if env.Network == nil {
		t.Fatal("no NetworkSection")
	}
	nets := map[string]bool{}
	for _, n := range env.Network.Networks {
		nets[n.Name] = true
		// govmomi does not read a Network's configuration attribute.
		tag := regexp.MustCompile(`<Network ovf:name="` + n.Name + `"[^>]*>`).Find(ovf.Descriptor)
		if (n.Name == "Frontend") != strings.Contains(string(tag), `ovf:configuration="frontend"`) {
			t.Errorf("network %s: %s; only Frontend is the frontend option's", n.Name, tag)
		}
	}
	vh := env.VirtualSystem.VirtualHardware
	if len(vh) != 1 || vh[0].Transport == nil || !strings.Contains(*vh[0].Transport, "com.vmware.guestInfo") {
		t.Fatalf("want one VirtualHardwareSection with the guestinfo transport, got %d", len(vh))
	}
	roles := map[string]bool{}
	for _, it := range vh[0].Item {
		if len(it.Connection) != 1 {
			t.Errorf("%s: connections %v", it.ElementName, it.Connection)
			continue
		}
		net := it.Connection[0]
		role := strings.ToLower(net)
		roles[role] = true
		if !nets[net] {
			t.Errorf("%s is connected to %q, which the NetworkSection lacks", it.ElementName, net)
		}
		if it.ResourceSubType == nil || *it.ResourceSubType != "VmxNet3" {
			t.Errorf("%s: not a vmxnet3 NIC", it.ElementName)
		}
		if (role == "frontend") != (it.Configuration != nil && *it.Configuration == "frontend") {
			t.Errorf("%s: configuration %v; only the frontend NIC is the frontend option's", it.ElementName, it.Configuration)
		}
		slot := ""
		for _, c := range it.Config {
			if c.Key == "slotInfo.pciSlotNumber" {
				slot = c.Value
			}
		}
		path, ok := slotPath[slot]
		if !ok {
			t.Errorf("%s: PCI slot %q is not pinned to one the guest names", it.ElementName, slot)
			continue
		}
		link, err := os.ReadFile(filepath.Join("..", "systemd", "network", "10-anyip-"+role+".link"))
		if err != nil {
			t.Errorf("no .link file for the %s NIC: %v", role, err)
			continue
		}
		if !regexp.MustCompile(`(?m)^Path=`+regexp.QuoteMeta(path)+`$`).Match(link) || !regexp.MustCompile(`(?m)^Name=`+role+`$`).Match(link) {
			t.Errorf("10-anyip-%s.link does not name %s %s:\n%s", role, path, role, link)
		}
	}
	for _, r := range []string{"management", "workload", "frontend"} {
		if !roles[r] {
			t.Errorf("no NIC for the %s network", r)
		}
	}
}
