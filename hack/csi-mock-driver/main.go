// csi-mock-driver serves upstream's CSI mock driver (k8s.io/kubernetes test/e2e/storage/drivers/csi-test/mock,
// the one Kubernetes' own e2e storage tests use) on a unix socket, so a kind cluster gets an attachable CSI driver
// with no registry: in controller mode beside csi-attacher (ControllerPublishVolume), in node mode for the kubelet
// (NodeStage/NodePublishVolume), which it also registers with through the kubelet's plugin-registration API (the
// job node-driver-registrar does elsewhere: that module is not on the Go module proxy here).
//
// Every CSI call is logged by upstream's interceptor at -v=3 as `gRPCCall: {"Method": ..., "Request": ...,
// "Response": ...}` behind klog's microsecond timestamp: the tests read when the kubelet mounted from that log.
//
// Built by hack/build-addons.sh (csi_mock_driver) inside a copy of the Kubernetes wrapper module, so it links the
// mock of the Kubernetes version under test.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"google.golang.org/grpc"
	"k8s.io/klog/v2"
	registration "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
	"k8s.io/kubernetes/test/e2e/storage/drivers/csi-test/driver"
	"k8s.io/kubernetes/test/e2e/storage/drivers/csi-test/mock/service"
)

// registrar answers the kubelet's plugin watcher for a socket in /var/lib/kubelet/plugins_registry.
type registrar struct {
	registration.UnimplementedRegistrationServer
	name, endpoint string
}

func (r *registrar) GetInfo(context.Context, *registration.InfoRequest) (*registration.PluginInfo, error) {
	klog.Infof("kubelet asked for plugin info: %s at %s", r.name, r.endpoint)
	return &registration.PluginInfo{Type: registration.CSIPlugin, Name: r.name, Endpoint: r.endpoint,
		SupportedVersions: []string{"1.0.0"}}, nil
}

func (r *registrar) NotifyRegistrationStatus(_ context.Context, s *registration.RegistrationStatus) (*registration.RegistrationStatusResponse, error) {
	if s.PluginRegistered {
		klog.Infof("registered with the kubelet as %s", r.name)
	} else {
		// as node-driver-registrar does: a plugin the kubelet refused is not running, so exit and be restarted
		klog.Errorf("the kubelet refused the registration: %s", s.Error)
		os.Exit(1)
	}
	return &registration.RegistrationStatusResponse{}, nil
}

// listen removes a socket left by a previous container (a restart) before listening on it.
func listen(path string) net.Listener {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		klog.Fatalf("creating the directory of %s: %v", path, err)
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		klog.Fatalf("removing the stale socket %s: %v", path, err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		klog.Fatalf("listening on %s: %v", path, err)
	}
	return l
}

func main() {
	klog.InitFlags(nil)
	name := flag.String("name", "", "the CSI driver name (GetPluginInfo, the CSIDriver object's name); the mock also answers it as its node ID")
	mode := flag.String("mode", "", "controller (Identity and Controller services) or node (Identity and Node services, registered with the kubelet)")
	endpoint := flag.String("endpoint", "/csi/csi.sock", "the unix socket the CSI services listen on")
	kubeletEndpoint := flag.String("kubelet-endpoint", "", "node mode: the CSI socket as the kubelet sees it (its host path)")
	registrationDir := flag.String("registration-dir", "/registration", "node mode: the kubelet's plugins_registry directory as mounted here")
	flag.Parse()
	if *name == "" || (*mode != "controller" && *mode != "node") || (*mode == "node" && *kubeletEndpoint == "") {
		fmt.Fprintln(os.Stderr, "usage: csi-mock-driver -name NAME -mode controller|node [-endpoint SOCK] [-kubelet-endpoint HOSTSOCK -registration-dir DIR] [-v=3]")
		os.Exit(2)
	}

	// OSDirIO: NodePublishVolume creates the pod's target directory on the node (through the hostPath of
	// /var/lib/kubelet/pods), so the container runtime finds it; no device is mounted
	mock := service.New(service.Config{DriverName: *name, IO: service.OSDirIO{}})
	servers := &driver.CSIDriverServers{Identity: mock}
	if *mode == "controller" {
		servers.Controller = mock
	} else {
		servers.Node = mock
	}
	csiDriver := driver.NewCSIDriver(servers)
	if err := csiDriver.Start(listen(*endpoint), nil); err != nil {
		klog.Fatalf("starting the CSI services: %v", err)
	}
	klog.Infof("CSI mock driver %s (%s mode) serving on %s", *name, *mode, *endpoint)

	var regSocket string
	if *mode == "node" {
		regSocket = filepath.Join(*registrationDir, *name+"-reg.sock")
		server := grpc.NewServer()
		registration.RegisterRegistrationServer(server, &registrar{name: *name, endpoint: *kubeletEndpoint})
		l := listen(regSocket)
		go func() {
			if err := server.Serve(l); err != nil {
				klog.Fatalf("plugin registration server: %v", err)
			}
		}()
		klog.Infof("plugin registration served on %s", regSocket)
	}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
	// the kubelet deregisters a plugin whose registration socket is gone
	if regSocket != "" {
		_ = os.Remove(regSocket)
	}
	csiDriver.Stop()
	klog.Infof("stopped")
}
