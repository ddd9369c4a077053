// Go's mime/multipart, nested: `write` prints a batch with a changeset written by
// multipart.Writer; `read BOUNDARY` reads a body from stdin with multipart.Reader, descending
// into parts whose Content-Type is multipart/*, and prints the tree as JSON in the shape
// aiohttp_multipart.py prints.
package main

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/textproto"
	"os"
	"strings"
)

type node struct {
	Parts   []node      `json:"parts,omitempty"`
	Headers [][2]string `json:"headers,omitempty"`
	Body    *string     `json:"body,omitempty"`
}

func latin1(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

func tree(r *multipart.Reader) node {
	n := node{Parts: []node{}}
	for {
		p, err := r.NextRawPart()
		if err == io.EOF {
			return n
		}
		if err != nil {
			panic(err)
		}
		mt, params, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if strings.HasPrefix(mt, "multipart/") {
			n.Parts = append(n.Parts, tree(multipart.NewReader(p, params["boundary"])))
			continue
		}
		body, err := io.ReadAll(p)
		if err != nil {
			panic(err)
		}
		var hs [][2]string
		for k, vs := range p.Header {
			for _, v := range vs {
				hs = append(hs, [2]string{k, v})
			}
		}
		s := latin1(body)
		n.Parts = append(n.Parts, node{Headers: hs, Body: &s})
	}
}

func write() {
	var out bytes.Buffer
	batch := multipart.NewWriter(&out)
	batch.SetBoundary("batch_go")
	part := func(w *multipart.Writer, id, http string) {
		h := textproto.MIMEHeader{}
		h.Set("Content-Type", "application/http")
		h.Set("Content-ID", id)
		p, _ := w.CreatePart(h)
		p.Write([]byte(http))
	}
	part(batch, "0", "GET /Customers('C0') HTTP/1.1\r\n\r\n")
	var cs bytes.Buffer
	changeset := multipart.NewWriter(&cs)
	changeset.SetBoundary("changeset_go")
	part(changeset, "1", "POST /Customers HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{\"Name\": \"Zo\u00eb\"}")
	part(changeset, "2", "DELETE /Customers('C9') HTTP/1.1\r\n\r\n")
	changeset.Close()
	h := textproto.MIMEHeader{}
	h.Set("Content-Type", "multipart/mixed; boundary=changeset_go")
	p, _ := batch.CreatePart(h)
	p.Write(cs.Bytes())
	batch.Close()
	os.Stdout.Write(out.Bytes())
}

func main() {
	if os.Args[1] == "write" {
		write()
		return
	}
	json.NewEncoder(os.Stdout).Encode(tree(multipart.NewReader(os.Stdin, os.Args[2])))
}
