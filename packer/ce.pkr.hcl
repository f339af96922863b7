# Compositing Engine VM image (Packer 1.6.6, HCL2). One Debian 12 base per platform, one
# shared provisioning path (provision/install.sh), the release tarball from `npm run package`.
#
#   packer build -only=qemu.ce      -var release_tarball=build/ce-0.1.0.tar.gz -var qemu_base_image=debian-12-genericcloud-amd64.qcow2 packer/ce.pkr.hcl
#   packer build -only=azure-arm.ce -var-file=azure.pkrvars.hcl packer/ce.pkr.hcl      (see packer/README.md)
#
# Packer 1.6.6 facts that shape this file: no `packer init`/required_plugins (the builders are
# bundled); `sensitive = true` masks the value everywhere in packer's output, so sensitive
# variables default to "" (a non-empty default would be masked inside every log line).

# ------------------------------------------------------------------------------------------
# Common
# ------------------------------------------------------------------------------------------
variable "ce_version" {
  type        = string
  default     = "0.1.0"
  description = "CE version: names the image and must match the release tarball."
}

variable "release_tarball" {
  type        = string
  default     = "build/ce-0.1.0.tar.gz"
  description = "Path to the release tarball built by `npm run package`."
}

variable "image_name" {
  type        = string
  default     = "compositing-engine"
  description = "Image name prefix; the version and a timestamp are appended."
}

variable "node_major" {
  type        = string
  default     = "20"
  description = "Node.js major version installed from NodeSource."
}

variable "node_dist" {
  type        = string
  default     = ""
  description = "Optional path (on the build VM) to an official node-vXX-linux-x64.tar.xz to install instead of NodeSource (offline builds)."
}

variable "isolation_args" {
  type        = string
  default     = ""
  description = "Extra arguments of `ce isolation rules` for the boot firewall, e.g. \"--dns 10.0.0.2 --connector 10.1.0.0/24\"."
}

# ------------------------------------------------------------------------------------------
# Azure: managed image from Debian's marketplace image (publisher Debian, offer debian-12).
# ------------------------------------------------------------------------------------------
variable "azure_subscription_id" {
  type    = string
  default = ""
}
variable "azure_tenant_id" {
  type    = string
  default = ""
}
variable "azure_client_id" {
  type    = string
  default = ""
}
variable "azure_client_secret" {
  type      = string
  default   = ""
  sensitive = true
}
variable "azure_resource_group" {
  type        = string
  default     = ""
  description = "Resource group that receives the managed image."
}
variable "azure_location" {
  type    = string
  default = "westeurope"
}
variable "azure_vm_size" {
  type    = string
  default = "Standard_D2s_v5"
}
variable "azure_image_sku" {
  type        = string
  default     = "12-gen2"
  description = "Debian marketplace SKU: 12-gen2 (UEFI, Gen2 VMs) or 12 (BIOS, Gen1)."
}

source "azure-arm" "ce" {
  subscription_id = var.azure_subscription_id
  tenant_id       = var.azure_tenant_id
  client_id       = var.azure_client_id
  client_secret   = var.azure_client_secret

  os_type         = "Linux"
  image_publisher = "Debian"
  image_offer     = "debian-12"
  image_sku       = var.azure_image_sku
  location        = var.azure_location
  vm_size         = var.azure_vm_size

  managed_image_name                = "${var.image_name}-${var.ce_version}-${local.stamp}"
  managed_image_resource_group_name = var.azure_resource_group

  azure_tags = local.tags
}

# ------------------------------------------------------------------------------------------
# AWS: AMI from the official Debian 12 AMI (owner 136693071363 is the Debian cloud team).
# ------------------------------------------------------------------------------------------
variable "aws_region" {
  type    = string
  default = "eu-west-1"
}
variable "aws_instance_type" {
  type    = string
  default = "t3.medium"
}
variable "aws_access_key" {
  type        = string
  default     = ""
  description = "Leave empty to use the usual AWS credential chain (environment, profile, instance role)."
}
variable "aws_secret_key" {
  type      = string
  default   = ""
  sensitive = true
}
variable "aws_subnet_id" {
  type    = string
  default = ""
}

source "amazon-ebs" "ce" {
  region        = var.aws_region
  access_key    = var.aws_access_key
  secret_key    = var.aws_secret_key
  instance_type = var.aws_instance_type
  subnet_id     = var.aws_subnet_id

  source_ami_filter {
    filters = {
      name                = "debian-12-amd64-*"
      architecture        = "x86_64"
      virtualization-type = "hvm"
      root-device-type    = "ebs"
    }
    owners      = ["136693071363"]
    most_recent = true
  }

  ssh_username = "admin"
  ami_name     = "${var.image_name}-${var.ce_version}-${local.stamp}"
  ena_support  = true
  tags         = local.tags
}

# ------------------------------------------------------------------------------------------
# GCP: image from the debian-12 family of debian-cloud.
# ------------------------------------------------------------------------------------------
variable "gcp_project_id" {
  type    = string
  default = ""
}
variable "gcp_zone" {
  type    = string
  default = "europe-west1-b"
}
variable "gcp_machine_type" {
  type    = string
  default = "e2-standard-2"
}
variable "gcp_account_file" {
  type        = string
  default     = ""
  description = "Service account key file; empty = application default credentials."
}

source "googlecompute" "ce" {
  project_id              = var.gcp_project_id
  zone                    = var.gcp_zone
  machine_type            = var.gcp_machine_type
  account_file            = var.gcp_account_file
  source_image_family     = "debian-12"
  source_image_project_id = ["debian-cloud"]
  image_name              = "${var.image_name}-${replace(var.ce_version, ".", "-")}-${local.stamp}"
  image_family            = var.image_name
  image_labels            = { for k, v in local.tags : lower(k) => lower(replace(v, ".", "-")) }
  # The service creates every CE with this tag; the isolation firewall rules target it.
  tags         = ["compositing-engine"]
  ssh_username = "packer"
}

# ------------------------------------------------------------------------------------------
# vSphere: clone a Debian 12 cloud-init template, provision, convert the result to a template.
# ------------------------------------------------------------------------------------------
variable "vsphere_server" {
  type    = string
  default = ""
}
variable "vsphere_username" {
  type    = string
  default = ""
}
variable "vsphere_password" {
  type      = string
  default   = ""
  sensitive = true
}
variable "vsphere_insecure" {
  type    = bool
  default = false
}
variable "vsphere_datacenter" {
  type    = string
  default = ""
}
variable "vsphere_cluster" {
  type    = string
  default = ""
}
variable "vsphere_datastore" {
  type    = string
  default = ""
}
variable "vsphere_folder" {
  type    = string
  default = ""
}
variable "vsphere_network" {
  type    = string
  default = ""
}
variable "vsphere_base_template" {
  type        = string
  default     = "debian-12-cloud"
  description = "Existing Debian 12 template (e.g. from debian-12-genericcloud-amd64.ova) with open-vm-tools and an SSH user."
}
variable "vsphere_ssh_username" {
  type    = string
  default = "debian"
}
variable "vsphere_ssh_password" {
  type      = string
  default   = ""
  sensitive = true
}

source "vsphere-clone" "ce" {
  vcenter_server      = var.vsphere_server
  username            = var.vsphere_username
  password            = var.vsphere_password
  insecure_connection = var.vsphere_insecure
  datacenter          = var.vsphere_datacenter
  cluster             = var.vsphere_cluster
  datastore           = var.vsphere_datastore
  folder              = var.vsphere_folder
  network             = var.vsphere_network

  template            = var.vsphere_base_template
  vm_name             = "${var.image_name}-${var.ce_version}-${local.stamp}"
  CPUs                = 2
  RAM                 = 4096
  convert_to_template = true

  ssh_username = var.vsphere_ssh_username
  ssh_password = var.vsphere_ssh_password
}

# ------------------------------------------------------------------------------------------
# QEMU: a local qcow2 from the Debian 12 generic cloud image (download it beforehand:
# https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2).
# cloud-init reads its NoCloud seed over packer's HTTP server (cloud-init/), which sets a
# build-only password for the `debian` user; provision/cleanup.sh locks it again.
# ------------------------------------------------------------------------------------------
variable "qemu_base_image" {
  type        = string
  default     = "debian-12-genericcloud-amd64.qcow2"
  description = "Path to the Debian 12 cloud image (qcow2)."
}
variable "qemu_base_checksum" {
  type        = string
  default     = "none"
  description = "Checksum of the base image, e.g. sha512:… from SHA512SUMS next to the image."
}
variable "qemu_accelerator" {
  type    = string
  default = "kvm"
}
variable "qemu_disk_size" {
  type    = string
  default = "8G"
}
variable "qemu_output_dir" {
  type    = string
  default = "build/qemu"
}
variable "qemu_ssh_password" {
  type        = string
  default     = "ce-packer-build"
  description = "Password set by cloud-init/user-data for the build only (keep in sync); locked by provision/cleanup.sh."
}

source "qemu" "ce" {
  iso_url          = var.qemu_base_image
  iso_checksum     = var.qemu_base_checksum
  disk_image       = true
  use_backing_file = false
  format           = "qcow2"
  disk_size        = var.qemu_disk_size
  disk_interface   = "virtio"
  net_device       = "virtio-net"
  accelerator      = var.qemu_accelerator
  headless         = true
  output_directory = var.qemu_output_dir
  vm_name          = "${var.image_name}-${var.ce_version}.qcow2"
  memory           = 2048
  cpus             = 2
  http_directory   = "${path.root}/cloud-init"
  qemuargs = [
    ["-smbios", "type=1,serial=ds=nocloud-net;s=http://{{ .HTTPIP }}:{{ .HTTPPort }}/"],
    ["-serial", "file:${var.qemu_output_dir}-serial.log"],
  ]
  ssh_username     = "debian"
  ssh_password     = var.qemu_ssh_password
  ssh_timeout      = "10m"
  shutdown_command = "sudo shutdown -P now"
}

locals {
  stamp = formatdate("YYYYMMDDhhmmss", timestamp())
  tags = {
    Application = "compositing-engine"
    CeVersion   = var.ce_version
  }
}

# ------------------------------------------------------------------------------------------
# One provisioning path for every platform.
# ------------------------------------------------------------------------------------------
build {
  sources = [
    "source.azure-arm.ce",
    "source.amazon-ebs.ce",
    "source.googlecompute.ce",
    "source.vsphere-clone.ce",
    "source.qemu.ce",
  ]

  provisioner "shell" {
    inline = ["rm -rf /tmp/ce-provision && mkdir -p /tmp/ce-provision"]
  }

  provisioner "file" {
    source      = var.release_tarball
    destination = "/tmp/ce-provision/ce-release.tar.gz"
  }

  # Trailing slashes upload the directories' content.
  provisioner "shell" {
    inline = ["mkdir -p /tmp/ce-provision/provision /tmp/ce-provision/files"]
  }

  provisioner "file" {
    source      = "${path.root}/provision/"
    destination = "/tmp/ce-provision/provision"
  }

  provisioner "file" {
    source      = "${path.root}/files/"
    destination = "/tmp/ce-provision/files"
  }

  provisioner "shell" {
    execute_command = "chmod +x {{ .Path }}; sudo env {{ .Vars }} bash {{ .Path }}"
    environment_vars = [
      "CE_RELEASE_TARBALL=/tmp/ce-provision/ce-release.tar.gz",
      "CE_NODE_MAJOR=${var.node_major}",
      "CE_NODE_DIST=${var.node_dist}",
      "CE_ISOLATION_ARGS=${var.isolation_args}",
      "CE_PLATFORM=${source.type}",
    ]
    inline = ["bash /tmp/ce-provision/provision/install.sh"]
  }

  # Generalise last: nothing of the build VM (SSH host keys, machine-id, cloud-init state,
  # the build user's keys/password) may end up in every CE.
  provisioner "shell" {
    execute_command  = "chmod +x {{ .Path }}; sudo env {{ .Vars }} bash {{ .Path }}"
    environment_vars = ["CE_PLATFORM=${source.type}"]
    inline           = ["bash /tmp/ce-provision/provision/cleanup.sh", "rm -rf /tmp/ce-provision"]
  }

  # Azure needs the agent's deprovisioning as the very last step (it also deletes the build user).
  provisioner "shell" {
    only            = ["azure-arm.ce"]
    execute_command = "chmod +x {{ .Path }}; sudo sh -c '{{ .Vars }} {{ .Path }}'"
    inline          = ["/usr/sbin/waagent -force -deprovision+user && export HISTSIZE=0 && sync"]
    skip_clean      = true
  }
}
