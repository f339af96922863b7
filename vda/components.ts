/**
 * What the CE knows about each Citrix component: the installer it needs from the component source,
 * how it is detected offline and how it is installed online. Facts from windows.md §3.5/§3.6; the
 * ones windows.md marks (unverified) are marked so here and must be checked on a real image.
 */

export type ComponentId = 'vda' | 'misa' | 'mcsio' | 'pvs';

export interface ComponentFacts {
  id: ComponentId;
  label: string;
  /** Default installer file name in the component source (manifest `components` may override). */
  installer?: string;
  /** Uninstall DisplayName patterns (case-insensitive). */
  displayNames: RegExp[];
  /** Services under ControlSet00N\Services whose presence (Start != 4) means installed. */
  services: string[];
  /** Driver files under System32\drivers. */
  driverFiles: string[];
}

export const COMPONENTS: Record<ComponentId, ComponentFacts> = {
  vda: {
    id: 'vda',
    label: 'Citrix Virtual Delivery Agent',
    // The VDA itself is never installed by the CE; /reconfigure uses the setup already in the image.
    displayNames: [/^Citrix Virtual Delivery Agent/i, /^Citrix Virtual Desktop Agent/i, /^Citrix Virtual Apps and Desktops.*Delivery Agent/i],
    services: ['BrokerAgent'],
    driverFiles: [],
  },
  misa: {
    id: 'misa',
    label: 'Machine Identity Service Agent',
    // The installer file name is (unverified) in windows.md §3.6: the manifest can name another file.
    installer: 'MachineIdentityServiceAgent_x64.msi',
    displayNames: [/^Machine Identity Service Agent/i],
    services: [],
    driverFiles: [],
  },
  mcsio: {
    id: 'mcsio',
    label: 'MCS I/O driver',
    // The installer file name is not documented (unverified): the manifest can name another file.
    installer: 'MCSIO_x64.msi',
    displayNames: [/^Citrix MCS IODriver/i, /^MCS ?IO/i],
    services: ['CVhdFilter'],
    driverFiles: ['CVhdFilter.sys'],
  },
  pvs: {
    id: 'pvs',
    label: 'Citrix Provisioning Target Device',
    // `PVS_Device_x64.exe` is (unverified) in windows.md §3.6.
    installer: 'PVS_Device_x64.exe',
    displayNames: [/^Citrix Provisioning.*Target Device/i, /^Citrix Provisioning Services Target Device/i],
    services: ['bnistack', 'bndevice', 'cfsdep2', 'cvhdmp', 'cnicteam'],
    driverFiles: ['bnistack6.sys', 'CfsDep2.sys', 'CVhdBusP6.sys', 'cnicteam.sys', 'CVhdMp.sys'],
  },
};

/** Where the VDA's setup lives in the image (unverified, windows.md §3.5). */
export const VDA_SETUP_RELPATH = 'Citrix\\XenDesktopVdaSetup\\XenDesktopVdaSetup.exe';
