package openflow

import (
	"fmt"
	"strconv"
)

// Error is an OpenFlow error the switch sent (OFPT_ERROR).
type Error struct {
	Type, Code uint16
	// Experimenter is the vendor of an experimenter error (Type 0xffff;
	// Code is then the experimenter's code).
	Experimenter uint32
	// Data is the start of the request that failed.
	Data []byte
}

const (
	errTypeBundleFailed = 17
	errTypeExperimenter = 0xffff

	// errBundleMsgFailed is the commit's error when one of the bundle's
	// messages failed (OFPBFC_MSG_FAILED); the failed message has its own.
	errBundleMsgFailed = 13
)

// errNames are OpenFlow 1.4's error types and the codes of those a flow
// mod or a bundle can meet (spec section 7.4.4); others print as numbers.
var errNames = map[uint16]struct {
	name  string
	codes []string
}{
	0:  {"OFPET_HELLO_FAILED", []string{"INCOMPATIBLE", "EPERM"}},
	1:  {"OFPET_BAD_REQUEST", []string{"BAD_VERSION", "BAD_TYPE", "BAD_MULTIPART", "BAD_EXPERIMENTER", "BAD_EXP_TYPE", "EPERM", "BAD_LEN", "BUFFER_EMPTY", "BUFFER_UNKNOWN", "BAD_TABLE_ID", "IS_SLAVE", "BAD_PORT", "BAD_PACKET", "MULTIPART_BUFFER_OVERFLOW", "MULTIPART_REQUEST_TIMEOUT", "MULTIPART_REPLY_TIMEOUT"}},
	2:  {"OFPET_BAD_ACTION", []string{"BAD_TYPE", "BAD_LEN", "BAD_EXPERIMENTER", "BAD_EXP_TYPE", "BAD_OUT_PORT", "BAD_ARGUMENT", "EPERM", "TOO_MANY", "BAD_QUEUE", "BAD_OUT_GROUP", "MATCH_INCONSISTENT", "UNSUPPORTED_ORDER", "BAD_TAG", "BAD_SET_TYPE", "BAD_SET_LEN", "BAD_SET_ARGUMENT"}},
	3:  {"OFPET_BAD_INSTRUCTION", []string{"UNKNOWN_INST", "UNSUP_INST", "BAD_TABLE_ID", "UNSUP_METADATA", "UNSUP_METADATA_MASK", "BAD_EXPERIMENTER", "BAD_EXP_TYPE", "BAD_LEN", "EPERM", "DUP_INST"}},
	4:  {"OFPET_BAD_MATCH", []string{"BAD_TYPE", "BAD_LEN", "BAD_TAG", "BAD_DL_ADDR_MASK", "BAD_NW_ADDR_MASK", "BAD_WILDCARDS", "BAD_FIELD", "BAD_VALUE", "BAD_MASK", "BAD_PREREQ", "DUP_FIELD", "EPERM"}},
	5:  {"OFPET_FLOW_MOD_FAILED", []string{"UNKNOWN", "TABLE_FULL", "BAD_TABLE_ID", "OVERLAP", "EPERM", "BAD_TIMEOUT", "BAD_COMMAND", "BAD_FLAGS", "CANT_SYNC", "BAD_PRIORITY", "IS_SYNC"}},
	6:  {"OFPET_GROUP_MOD_FAILED", nil},
	7:  {"OFPET_PORT_MOD_FAILED", nil},
	8:  {"OFPET_TABLE_MOD_FAILED", nil},
	9:  {"OFPET_QUEUE_OP_FAILED", nil},
	10: {"OFPET_SWITCH_CONFIG_FAILED", nil},
	11: {"OFPET_ROLE_REQUEST_FAILED", nil},
	12: {"OFPET_METER_MOD_FAILED", nil},
	13: {"OFPET_TABLE_FEATURES_FAILED", nil},
	14: {"OFPET_BAD_PROPERTY", nil},
	15: {"OFPET_ASYNC_CONFIG_FAILED", nil},
	16: {"OFPET_FLOW_MONITOR_FAILED", nil},
	17: {"OFPET_BUNDLE_FAILED", []string{"UNKNOWN", "EPERM", "BAD_ID", "BUNDLE_EXIST", "BUNDLE_CLOSED", "OUT_OF_BUNDLES", "BAD_TYPE", "BAD_FLAGS", "MSG_BAD_LEN", "MSG_BAD_XID", "MSG_UNSUP", "MSG_CONFLICT", "MSG_TOO_MANY", "MSG_FAILED", "TIMEOUT", "BUNDLE_IN_PROGRESS"}},
}

// Error names the error as the OpenFlow spec does, e.g.
// "OFPET_BAD_ACTION OFPBAC_BAD_OUT_PORT" is printed as
// "OFPET_BAD_ACTION/BAD_OUT_PORT (type 2, code 4)".
func (e *Error) Error() string {
	if e.Type == errTypeExperimenter {
		vendor := fmt.Sprintf("experimenter %#08x", e.Experimenter)
		if e.Experimenter == nxVendor {
			vendor = "Nicira extension"
		}
		return fmt.Sprintf("openflow error: %s error code %d", vendor, e.Code)
	}
	n, ok := errNames[e.Type]
	if !ok {
		return fmt.Sprintf("openflow error: type %d, code %d", e.Type, e.Code)
	}
	code := strconv.Itoa(int(e.Code))
	if int(e.Code) < len(n.codes) {
		code = n.codes[e.Code]
	}
	return fmt.Sprintf("openflow error: %s/%s (type %d, code %d)", n.name, code, e.Type, e.Code)
}
