package netexec

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"strings"
)

// WebSocketPath is where netexec answers a WebSocket (RFC 6455) handshake
// and then echoes every text and binary message back, answers pings, and
// returns the close frame. It exists so that proxies (the ingress) can be
// tested with Upgrade tunnelling.
const WebSocketPath = "/websocket"

// maxFrame bounds an echoed frame's payload.
const maxFrame = 1 << 20

// wsGUID is the RFC 6455 key suffix.
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// WebSocketAccept is the Sec-WebSocket-Accept value for a key.
func WebSocketAccept(key string) string {
	sum := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(sum[:])
}

func serveWebSocket(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Sec-WebSocket-Key")
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") || key == "" {
		http.Error(w, "WebSocket handshake expected", http.StatusBadRequest)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "cannot hijack", http.StatusInternalServerError)
		return
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		WebSocketAccept(key) + "\r\n\r\n")
	if rw.Flush() != nil {
		return
	}
	wsEcho(rw.Reader, rw.Writer)
}

// wsEcho echoes frames until the peer closes or breaks the protocol.
func wsEcho(r *bufio.Reader, w *bufio.Writer) {
	for {
		fin, op, payload, err := readFrame(r)
		if err != nil {
			return
		}
		switch op {
		case 0x8: // close: answer with the same status, then stop
			writeFrame(w, true, 0x8, payload)
			w.Flush()
			return
		case 0x9: // ping
			op = 0xA
		case 0xA: // pong
			continue
		}
		if writeFrame(w, fin, op, payload) != nil || w.Flush() != nil {
			return
		}
	}
}

var errFrame = errors.New("websocket: bad frame")

// readFrame reads one client frame (which must be masked) and unmasks it.
func readFrame(r *bufio.Reader) (fin bool, op byte, payload []byte, err error) {
	var hdr [2]byte
	if _, err = io.ReadFull(r, hdr[:]); err != nil {
		return
	}
	fin, op = hdr[0]&0x80 != 0, hdr[0]&0x0f
	if hdr[1]&0x80 == 0 {
		return false, 0, nil, errFrame
	}
	n := uint64(hdr[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err = io.ReadFull(r, b[:]); err != nil {
			return
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err = io.ReadFull(r, b[:]); err != nil {
			return
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > maxFrame {
		return false, 0, nil, errFrame
	}
	var mask [4]byte
	if _, err = io.ReadFull(r, mask[:]); err != nil {
		return
	}
	payload = make([]byte, n)
	if _, err = io.ReadFull(r, payload); err != nil {
		return
	}
	for i := range payload {
		payload[i] ^= mask[i%4]
	}
	return fin, op, payload, nil
}

// writeFrame writes an unmasked (server) frame.
func writeFrame(w *bufio.Writer, fin bool, op byte, payload []byte) error {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	w.WriteByte(b0)
	switch n := len(payload); {
	case n < 126:
		w.WriteByte(byte(n))
	case n <= 0xffff:
		w.WriteByte(126)
		w.Write(binary.BigEndian.AppendUint16(nil, uint16(n)))
	default:
		w.WriteByte(127)
		w.Write(binary.BigEndian.AppendUint64(nil, uint64(n)))
	}
	_, err := w.Write(payload)
	return err
}
