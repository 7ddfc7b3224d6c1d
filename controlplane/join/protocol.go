package join

import "github.com/switchyard-net/switchyard/controlplane/pki"

// Paths the control plane serves on its API port.
const (
	// CAPath answers anonymous GETs with the cluster CA certificate (PEM).
	CAPath = "/switchyard/join/v1/ca"
	// JoinPath takes a Request (JSON, bearer token) and answers a Response.
	JoinPath = "/switchyard/join/v1/join"
)

// Request is what a joining node asks for.
type Request struct {
	NodeName string `json:"nodeName"`
	// NodeIP is the node's --node-ip: a control plane's etcd peer address.
	NodeIP       string `json:"nodeIP"`
	ControlPlane bool   `json:"controlPlane"`
	// CSR is a worker's PEM certificate request for its node client
	// certificate.
	CSR []byte `json:"csr,omitempty"`
	// ServingCSR is a worker's PEM certificate request for its node
	// server (dataplane/nodeserver), signed for NodeName and NodeIP.
	ServingCSR []byte `json:"servingCSR,omitempty"`
}

// Response is the control plane's answer.
type Response struct {
	CACert []byte `json:"caCert"`
	// For a control plane: the shared CA and admin credentials and the
	// etcd initial cluster ("name=peerURL,…") to start its member with.
	Shared         *SharedFiles `json:"shared,omitempty"`
	InitialCluster string       `json:"initialCluster,omitempty"`
	// For a worker: its client certificate (PEM) signed by the cluster CA.
	ClientCert []byte `json:"clientCert,omitempty"`
	// ServingCert is a worker's node server certificate (PEM), when it
	// sent a ServingCSR.
	ServingCert []byte `json:"servingCert,omitempty"`
	// Servers are the API URLs of the control planes known to the cluster.
	Servers []string `json:"servers,omitempty"`
}

// SharedFiles are the credentials every control plane shares.
type SharedFiles = pki.SharedFiles
